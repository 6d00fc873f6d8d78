import {
  boolean,
  clientBans,
  domainName,
  edgePrefix,
  hostPort,
  integer,
  listOf,
  oneOf,
  type Parser,
  port,
  ratio,
  subjectToken,
  text,
  url,
  urlList,
} from "./parse.js";

export const ROLES = ["edge", "auth", "roster", "presence", "messaging", "avatar", "groupchat"] as const;
export type Role = (typeof ROLES)[number];

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** What `impp help config` and docs/configuration.md show for one variable. */
export interface SettingDoc {
  readonly name: string;
  /** The default as an operator would write it; undefined = unset (feature off / embedded). */
  readonly default: string | undefined;
  readonly description: string;
  readonly group: string;
}

export interface Setting<T> extends SettingDoc {
  readonly parse: Parser<T>;
  /** The default is worked out at load time (hostname, other settings); `default` only describes it. */
  readonly computed?: true;
  /** A password or token: never shown, not even in a configuration error. */
  readonly secret?: true;
}

const ms = (min: number, max: number) => integer(min, max);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const nonEmpty: Parser<string> = (raw) =>
  /\s/.test(raw) ? { ok: false, problem: "must not contain spaces" } : { ok: true, value: raw };

// One source of truth: loadConfig reads these, and the docs are rendered from them.
export const S = {
  port: {
    name: "IMPP_PORT",
    default: "3158",
    group: "Network",
    description: "TCP port of the IMPP listener (TLS negotiated in-band after FEATURES_SET).",
    parse: port,
  },
  tlsPort: {
    name: "IMPP_TLS_PORT",
    default: undefined,
    group: "Network",
    description: "Port of a TLS-first (443-style) listener; off unless set.",
    parse: port,
  },
  host: {
    name: "IMPP_HOST",
    default: "0.0.0.0",
    group: "Network",
    description: "Address the listeners bind to.",
    parse: nonEmpty,
  },
  httpPort: {
    name: "IMPP_HTTP_PORT",
    default: "9158",
    group: "Network",
    description: "Port of the HTTP endpoint for /healthz, /readyz and /metrics; 0 turns it off.",
    parse: integer(0, 65535),
  },
  serverName: {
    name: "IMPP_SERVER_NAME",
    default: "<host>:<port>",
    group: "Network",
    description:
      "host:port this node announces in SERVER TLVs (where clients reconnect). Default: the bind address and IMPP_PORT, with the machine's host name when binding to all addresses.",
    parse: hostPort,
    computed: true,
  },
  drainRedirect: {
    name: "IMPP_DRAIN_REDIRECT",
    default: undefined,
    group: "Network",
    description:
      "host:port a draining edge tells its clients to reconnect to (DEVICE_BOUND_ELSEWHERE's SERVER); unset = IMPP_SERVER_NAME, which behind a load balancer reaches another edge.",
    parse: hostPort,
  },
  domain: {
    name: "IMPP_DOMAIN",
    default: "localhost",
    group: "Network",
    description: "The service's domain name.",
    parse: domainName,
  },
  compression: {
    name: "IMPP_COMPRESSION",
    default: "true",
    group: "Network",
    description: "Offer zlib stream compression in FEATURES_SET.",
    parse: boolean,
  },
  tlsCert: {
    name: "IMPP_TLS_CERT",
    default: undefined,
    group: "Network",
    description:
      "PEM certificate chain file. Set together with IMPP_TLS_KEY; unset = self-signed cert made on first start.",
    parse: text,
  },
  tlsKey: {
    name: "IMPP_TLS_KEY",
    default: undefined,
    group: "Network",
    description: "PEM private key file. Set together with IMPP_TLS_CERT.",
    parse: text,
  },
  roles: {
    name: "IMPP_ROLES",
    default: ROLES.join(","),
    group: "Deployment",
    description: `Comma list of the roles this process runs: ${ROLES.join(", ")}.`,
    parse: listOf(ROLES),
  },
  edgeId: {
    name: "IMPP_EDGE_ID",
    default: "<hostname>",
    group: "Deployment",
    description:
      "Prefix of this node's id on the bus and in Redis (1–53 letters, digits, '-' or '_'). Every process start adds '-' and 10 random characters, so restarts (a container's PID 1 again) and containers sharing a host name never share an id; an edge that starts retires the dead earlier ids with its prefix at once.",
    parse: edgePrefix,
    computed: true,
  },
  dataDir: {
    name: "IMPP_DATA_DIR",
    default: "./.impp",
    group: "Deployment",
    description: "Folder for the embedded database and the self-signed certificate.",
    parse: text,
  },
  dataDirLockWaitMs: {
    name: "IMPP_DATA_DIR_LOCK_WAIT_MS",
    default: "15000",
    group: "Deployment",
    description:
      "How long `impp serve` waits for another process holding the embedded database in IMPP_DATA_DIR (an `impp user` command run while the server was down) before giving up.",
    parse: ms(0, 10 * MINUTE),
  },
  pgliteSharedBuffersMb: {
    name: "IMPP_PGLITE_SHARED_BUFFERS_MB",
    default: "16",
    group: "Deployment",
    description:
      "Embedded database only (no IMPP_DATABASE_URL): Postgres' shared_buffers in MiB, its own cache of table and index pages. Resident memory once used; the operating system caches the files behind it too. PGlite's default, 128, makes the server about 120 MiB bigger.",
    parse: integer(1, 1024),
  },
  maxSemiSpaceMb: {
    name: "IMPP_MAX_SEMI_SPACE_MB",
    default: "0",
    group: "Deployment",
    description:
      "How far `impp serve` lets V8's young generation grow: its largest semi-space in MiB (the young generation is two), like node's --max-semi-space-size. 0 leaves it to V8 (up to 16). A small cap is for memory-tight hosts: 4 kept an idle embedded server ≈ 10 MiB smaller but cost 10–14 % more CPU per message at saturation (more minor garbage collections; measured in #13). Above V8's 16 it needs node started with a larger --max-semi-space-size (V8 reads it only at start; e.g. NODE_OPTIONS=--max-semi-space-size=64: +4–17 % messages per server CPU-second at saturation, a bigger process after bursts; docs/architecture.md).",
    parse: integer(0, 256),
  },
  natsUrl: {
    name: "IMPP_NATS_URL",
    default: undefined,
    group: "Deployment",
    description:
      "NATS server (nats:// or tls://; several separated by commas); unset = in-process bus. Credentials may be in the URL: nats://user:password@host:4222, or nats://token@host:4222 (percent-encode @ : / in them).",
    parse: urlList(["nats:", "tls:"]),
  },
  natsUser: {
    name: "IMPP_NATS_USER",
    default: undefined,
    group: "Deployment",
    description: "NATS user name, with IMPP_NATS_PASSWORD (instead of credentials in IMPP_NATS_URL).",
    parse: text,
  },
  natsPassword: {
    name: "IMPP_NATS_PASSWORD",
    default: undefined,
    group: "Deployment",
    description: "NATS password for IMPP_NATS_USER. Never logged.",
    parse: text,
    secret: true,
  },
  natsToken: {
    name: "IMPP_NATS_TOKEN",
    default: undefined,
    group: "Deployment",
    description: "NATS authentication token (nats-server --auth / authorization { token }). Never logged.",
    parse: text,
    secret: true,
  },
  natsNkeySeedFile: {
    name: "IMPP_NATS_NKEY_SEED_FILE",
    default: undefined,
    group: "Deployment",
    description: "File holding the NATS user's nkey seed (SU…), which signs the server's challenge.",
    parse: text,
  },
  natsCredsFile: {
    name: "IMPP_NATS_CREDS_FILE",
    default: undefined,
    group: "Deployment",
    description: "NATS creds file (user JWT and nkey seed, as nsc writes it) for decentralized auth.",
    parse: text,
  },
  natsCaFile: {
    name: "IMPP_NATS_CA_FILE",
    default: undefined,
    group: "Deployment",
    description:
      "PEM CA file that verifies the NATS server's certificate; turns TLS on (as a tls:// URL does). Unset with tls:// = the system's CAs.",
    parse: text,
  },
  natsPrefix: {
    name: "IMPP_NATS_PREFIX",
    default: undefined,
    group: "Deployment",
    description:
      "Namespace for every NATS subject (letters, digits, '-', '_'), so several IMPP networks or test runs can share one NATS; unset = none.",
    parse: subjectToken,
  },
  redisUrl: {
    name: "IMPP_REDIS_URL",
    default: undefined,
    group: "Deployment",
    description:
      "Redis server (redis:// or rediss:// for TLS) for live state; unset = in-process sessions. A password goes in the URL: redis://:password@host:6379 or redis://user:password@host:6379 (ACL user).",
    parse: url(["redis:", "rediss:"]),
  },
  redisCaFile: {
    name: "IMPP_REDIS_CA_FILE",
    default: undefined,
    group: "Deployment",
    description:
      "PEM CA file that verifies the Redis server's certificate; needs a rediss:// IMPP_REDIS_URL. Unset = the system's CAs.",
    parse: text,
  },
  redisPrefix: {
    name: "IMPP_REDIS_PREFIX",
    default: "impp:",
    group: "Deployment",
    description:
      "Prefix of every Redis key this server writes, so several IMPP networks (or test runs) can share one Redis.",
    parse: nonEmpty,
  },
  databaseUrl: {
    name: "IMPP_DATABASE_URL",
    default: undefined,
    group: "Deployment",
    description:
      "PostgreSQL (postgres:// or postgresql://); unset = embedded PGlite in IMPP_DATA_DIR. Password and TLS go in the URL as libpq has them: postgres://user:password@host/db?sslmode=verify-full&sslrootcert=/path/ca.pem (sslmode=disable, require, verify-ca, verify-full; sslcert/sslkey for a client certificate).",
    parse: url(["postgres:", "postgresql:"]),
  },
  bannedClients: {
    name: "IMPP_BANNED_CLIENTS",
    default: undefined,
    group: "Limits",
    description:
      "Clients refused at DEVICE BIND with CLIENT_INVALID: a comma list of CLIENT_NAMEs, each optionally with <version to refuse only older versions (they are told to upgrade to it), e.g. OldChat,Trillian<6.1.",
    parse: clientBans,
  },
  maxBlockSize: {
    name: "IMPP_MAX_BLOCK",
    default: "262144",
    group: "Limits",
    description: "Largest TLV block in bytes, on the wire and again after inflating.",
    parse: integer(1024, 64 * 1024 * 1024),
  },
  idleTimeoutMs: {
    name: "IMPP_IDLE_TIMEOUT_MS",
    default: "300000",
    group: "Limits",
    description: "A connection with no inbound message for this long is closed.",
    parse: ms(1000, DAY),
  },
  maxOutputBuffer: {
    name: "IMPP_MAX_OUTPUT_BUFFER",
    default: "1048576",
    group: "Limits",
    description: "A connection whose unsent output passes this many bytes is closed (slow reader).",
    parse: integer(65536, 1024 * 1024 * 1024),
  },
  devicesPerUser: {
    name: "IMPP_MAX_DEVICES",
    default: "10",
    group: "Limits",
    description: "Devices one account may have bound at once (TOO_MANY_DEVICES past it).",
    parse: integer(1, 1000),
  },
  listLimit: {
    name: "IMPP_LIST_LIMIT",
    default: "1000",
    group: "Limits",
    description:
      "Entries per contact, allow and block list (LIST_LIMIT_EXCEEDED past it; real clients expect at most 1000).",
    parse: integer(1, 100_000),
  },
  loginAttemptsPerAccount: {
    name: "IMPP_LOGIN_ATTEMPTS_PER_ACCOUNT",
    default: "5",
    group: "Limits",
    description: "Failed logins allowed per account within IMPP_LOGIN_ACCOUNT_WINDOW_MS.",
    parse: integer(1, 1_000_000),
  },
  loginAccountWindowMs: {
    name: "IMPP_LOGIN_ACCOUNT_WINDOW_MS",
    default: "300000",
    group: "Limits",
    description: "Window of the per-account failed-login limit.",
    parse: ms(1000, DAY),
  },
  loginAttemptsPerAddress: {
    name: "IMPP_LOGIN_ATTEMPTS_PER_ADDRESS",
    default: "20",
    group: "Limits",
    description:
      "Distinct accounts that may fail to log in from one source address (IPv4 address, IPv6 /64) within IMPP_LOGIN_ADDRESS_WINDOW_MS; past it, logins from there are refused except for accounts known good at that address. Repeated failures of one account count once here (the per-account limit counts those).",
    parse: integer(1, 1_000_000),
  },
  loginAddressWindowMs: {
    name: "IMPP_LOGIN_ADDRESS_WINDOW_MS",
    default: "60000",
    group: "Limits",
    description: "Window of the per-address failed-login limit.",
    parse: ms(1000, DAY),
  },
  loginAddressDelayMs: {
    name: "IMPP_LOGIN_ADDRESS_DELAY_MS",
    default: "500",
    group: "Limits",
    description:
      "Once half of IMPP_LOGIN_ATTEMPTS_PER_ADDRESS accounts have failed from an address, each further failed login from there is answered this much later per account past the half (at most a quarter of IMPP_REQUEST_TIMEOUT_MS): the limit slows an attacker down before it refuses. 0 = no delay.",
    parse: ms(0, MINUTE),
  },
  loginKnownGoodMs: {
    name: "IMPP_LOGIN_KNOWN_GOOD_MS",
    default: "2592000000",
    group: "Limits",
    description:
      "How long after a successful login an (account, address) pair is known good: its logins are not refused by the per-address limit (the per-account limit still applies). 0 = never.",
    parse: ms(0, 365 * DAY),
  },
  requestTimeoutMs: {
    name: "IMPP_REQUEST_TIMEOUT_MS",
    default: "5000",
    group: "Limits",
    description:
      "How long the edge waits for a backend answer before replying SERVICE_UNAVAILABLE. Requests carry a deadline of half of it: a service that reaches a request later drops it unstarted.",
    parse: ms(100, 10 * MINUTE),
  },
  drainGraceMs: {
    name: "IMPP_DRAIN_GRACE_MS",
    default: "10000",
    group: "Limits",
    description: "On shutdown, how long a draining edge lets clients move before closing them.",
    parse: ms(0, HOUR),
  },
  maxConnections: {
    name: "IMPP_MAX_CONNECTIONS",
    default: "100000",
    group: "Limits",
    description: "Client connections one edge accepts; past it new connections are refused.",
    parse: integer(1, 10_000_000),
  },
  readyMaxConnectionsPercent: {
    name: "IMPP_READY_MAX_CONNECTIONS_PERCENT",
    default: "90",
    group: "Limits",
    description:
      "An edge holding this percentage of IMPP_MAX_CONNECTIONS or more answers /readyz with 503, so a load balancer sends new connections to other edges; it stays up and keeps its connections (100 = not ready only when full).",
    parse: integer(1, 100),
  },
  tlsHandshakeTimeoutMs: {
    name: "IMPP_TLS_HANDSHAKE_TIMEOUT_MS",
    default: "5000",
    group: "Limits",
    description:
      "A TLS handshake not finished within this time (counted from the FEATURES_SET response; TLS-first port: from accept) closes the connection.",
    parse: ms(100, 10 * MINUTE),
  },
  preLoginMaxBlock: {
    name: "IMPP_PRELOGIN_MAX_BLOCK",
    default: "4096",
    group: "Limits",
    description:
      "Largest TLV block in bytes (on the wire and inflated) before login: only version, FEATURES_SET, PING, AUTHENTICATE and BIND are legal then, and none needs more. Past it: INVALID_TLV_LENGTH and close.",
    parse: integer(512, 64 * 1024 * 1024),
  },
  maxTlvsPerBlock: {
    name: "IMPP_MAX_TLVS_PER_BLOCK",
    default: "1024",
    group: "Limits",
    description:
      "TLVs one request block may hold at its top level (after inflating); past it the request gets INVALID_TLV_LENGTH and the session goes on. Bounds the work one block can cause (65,535 empty TLVs fit in 256 KiB).",
    parse: integer(16, 1_000_000),
  },
  versionTimeoutMs: {
    name: "IMPP_VERSION_TIMEOUT_MS",
    default: "5000",
    group: "Limits",
    description:
      "A connection that has not sent its version message this long after it opened (TLS-first port: after TLS is up) is closed.",
    parse: ms(100, 10 * MINUTE),
  },
  featuresTimeoutMs: {
    name: "IMPP_FEATURES_TIMEOUT_MS",
    default: "5000",
    group: "Limits",
    description:
      "On the in-band port, a connection whose FEATURES_SET (the request that starts TLS) has not been granted this long after its version message is closed.",
    parse: ms(100, 10 * MINUTE),
  },
  loginTimeoutMs: {
    name: "IMPP_LOGIN_TIMEOUT_MS",
    default: "30000",
    group: "Limits",
    description:
      "A connection not logged in (AUTHENTICATE answered ok) this long after TLS came up is closed.",
    parse: ms(100, HOUR),
  },
  preLoginMemory: {
    name: "IMPP_PRELOGIN_MEMORY",
    default: "134217728",
    group: "Limits",
    description:
      'Bytes all connections that have not logged in may hold together on one edge (an estimate: a fixed cost per connection plus its unread input); past it new connections are refused (impp_connections_closed_total{reason="prelogin_memory"}).',
    parse: integer(1024 * 1024, 1024 * 1024 * 1024 * 1024),
  },
  connectionWorkRate: {
    name: "IMPP_CONNECTION_WORK_RATE",
    default: "4194304",
    group: "Limits",
    description:
      "Work one connection may make its edge do per second, in bytes read plus bytes inflated; a connection over it is not read until its allowance refills (bursts up to 4 times IMPP_MAX_BLOCK).",
    parse: integer(64 * 1024, 1024 * 1024 * 1024),
  },
  accountWorkRate: {
    name: "IMPP_ACCOUNT_WORK_RATE",
    default: "8388608",
    group: "Limits",
    description:
      "The same allowance for all connections of one account on one edge together (so opening more connections does not buy more).",
    parse: integer(64 * 1024, 1024 * 1024 * 1024),
  },
  offlineMaxMessages: {
    name: "IMPP_OFFLINE_MAX_MESSAGES",
    default: "10000",
    group: "Offline messages",
    description:
      "Stored offline messages one recipient may have; past it a message to them is refused with SERVICE_UNAVAILABLE (nothing is dropped).",
    parse: integer(1, 10_000_000),
  },
  offlineMaxBytes: {
    name: "IMPP_OFFLINE_MAX_BYTES",
    default: "67108864",
    group: "Offline messages",
    description:
      "Bytes of stored MESSAGE_CHUNKs one recipient may have; past it a message to them is refused with SERVICE_UNAVAILABLE.",
    parse: integer(65536, 1024 * 1024 * 1024 * 1024),
  },
  offlineMaxBatch: {
    name: "IMPP_OFFLINE_MAX_BATCH",
    default: "256",
    group: "Offline messages",
    description:
      "Group commit: messages stored in one transaction at most while earlier ones are being written; 1 turns batching off (one transaction per message).",
    parse: integer(1, 10_000),
  },
  offlineRetentionDays: {
    name: "IMPP_OFFLINE_RETENTION_DAYS",
    default: undefined,
    group: "Offline messages",
    description:
      "Stored offline messages older than this many days are deleted (checked hourly); unset = kept until the recipient deletes them or the account is removed.",
    parse: integer(1, 36500),
  },
  avatarCacheBytes: {
    name: "IMPP_AVATAR_CACHE_BYTES",
    default: "16777216",
    group: "Avatars and group chats",
    description:
      "Bytes of avatar images one avatar process keeps in memory for GET (least recently used go first); 16 MiB holds at least 256 of the largest avatars, typically over a thousand.",
    parse: integer(0, 16 * 1024 * 1024 * 1024),
  },
  avatarSweepMs: {
    name: "IMPP_AVATAR_SWEEP_MS",
    default: "3600000",
    group: "Avatars and group chats",
    description:
      "How often avatars nobody uses are removed; an image uploaded within the last interval is kept (time to SET it). 0 = never.",
    parse: ms(0, 30 * DAY),
  },
  groupMaxMembers: {
    name: "IMPP_GROUP_MAX_MEMBERS",
    default: "500",
    group: "Avatars and group chats",
    description: "Members one group chat may have (GROUP_CHATS MEMBER_ADD/SET past it: INVALID_STATE).",
    parse: integer(2, 100_000),
  },
  groupsPerUser: {
    name: "IMPP_GROUPS_PER_USER",
    default: "100",
    group: "Avatars and group chats",
    description: "Group chats one user may belong to (creating or being added past it: INVALID_STATE).",
    parse: integer(1, 100_000),
  },
  groupHistoryDays: {
    name: "IMPP_GROUP_HISTORY_DAYS",
    default: "0",
    group: "Avatars and group chats",
    description: "Group messages older than this many days are deleted (hourly); 0 = keep them all.",
    parse: integer(0, 100_000),
  },
  heartbeatIntervalMs: {
    name: "IMPP_EDGE_HEARTBEAT_MS",
    default: "2000",
    group: "Liveness",
    description: "How often an edge refreshes its liveness heartbeat.",
    parse: ms(100, 10 * MINUTE),
  },
  heartbeatTtlMs: {
    name: "IMPP_EDGE_TTL_MS",
    default: "10000",
    group: "Liveness",
    description:
      "An edge silent this long is dead: its devices are unbound and watchers told. At least twice IMPP_EDGE_HEARTBEAT_MS.",
    parse: ms(200, HOUR),
  },
  logLevel: {
    name: "IMPP_LOG_LEVEL",
    default: "info",
    group: "Observability",
    description: `Log level: ${LOG_LEVELS.join(", ")}.`,
    parse: oneOf(LOG_LEVELS),
  },
  logBodies: {
    name: "IMPP_LOG_BODIES",
    default: "false",
    group: "Observability",
    description:
      "At trace level, show message bodies (IM MESSAGE_CHUNK, GROUP_CHATS MESSAGE, AVATAR DATA) in the per-frame log instead of their length. Passwords are never shown.",
    parse: boolean,
  },
  logRepeatsPerMinute: {
    name: "IMPP_LOG_REPEATS_PER_MINUTE",
    default: "20",
    group: "Observability",
    description:
      "Lines of one kind (failed login, refused connection, one error code of one family…) written per minute; past it they are counted and one summary line says how many were left out.",
    parse: integer(0, 1_000_000),
  },
  traceMessageRatio: {
    name: "IMPP_TRACE_MESSAGE_RATIO",
    default: "0.1",
    group: "Observability",
    description:
      "With an OTLP endpoint: the fraction of requests that start a sampled trace (chosen by trace id; the services and deliveries follow that choice). Every connection's impp.session span is kept whatever this says; 0 keeps only those, 1 every request.",
    parse: ratio,
  },
  otlpEndpoint: {
    name: "OTEL_EXPORTER_OTLP_ENDPOINT",
    default: undefined,
    group: "Observability",
    description: "OTLP/HTTP collector for traces and metrics (e.g. http://jaeger:4318); unset = no export.",
    parse: url(["http:", "https:"]),
  },
} satisfies Record<string, Setting<unknown>>;

/** Every variable, in documentation order. */
export const settings: readonly SettingDoc[] = Object.values(S).map(
  ({ name, default: d, description, group }) => ({
    name,
    default: d,
    description,
    group,
  }),
);
