import { randomBytes } from "node:crypto";
import { hostname as osHostname } from "node:os";
import { ConfigError, type ConfigProblem, type ConfigWarning } from "./errors.js";
import { type ClientBan, EDGE_PREFIX_MAX, redactUserinfo, toSubjectToken } from "./parse.js";
import { type Role, S, type Setting } from "./settings.js";

export interface Limits {
  maxBlockSize: number;
  idleTimeoutMs: number;
  maxOutputBuffer: number;
  devicesPerUser: number;
  listLimit: number;
  loginAttemptsPerAccount: number;
  loginAccountWindowMs: number;
  loginAttemptsPerAddress: number;
  loginAddressWindowMs: number;
  loginAddressDelayMs: number;
  loginKnownGoodMs: number;
  requestTimeoutMs: number;
  drainGraceMs: number;
  maxConnections: number;
  /** IMPP_READY_MAX_CONNECTIONS_PERCENT: an edge at this share of maxConnections is not ready. */
  readyMaxConnectionsPercent: number;
  tlsHandshakeTimeoutMs: number;
  preLoginMaxBlock: number;
  maxTlvsPerBlock: number;
  versionTimeoutMs: number;
  featuresTimeoutMs: number;
  loginTimeoutMs: number;
  preLoginMemory: number;
  connectionWorkRate: number;
  accountWorkRate: number;
}

export interface Config {
  port: number;
  tlsPort: number | undefined;
  host: string;
  httpPort: number;
  dataDir: string;
  /** IMPP_DATA_DIR_LOCK_WAIT_MS: how long serve waits for a CLI holding the embedded database. */
  dataDirLockWaitMs: number;
  /** IMPP_PGLITE_SHARED_BUFFERS_MB: the embedded database's shared_buffers. */
  pgliteSharedBuffersMb: number;
  /** IMPP_MAX_SEMI_SPACE_MB: the young generation's cap for `impp serve`; 0 = V8's own. */
  maxSemiSpaceMb: number;
  natsUrl?: string;
  /** IMPP_NATS_USER/PASSWORD, IMPP_NATS_TOKEN, IMPP_NATS_NKEY_SEED_FILE, IMPP_NATS_CREDS_FILE: at most one kind. */
  natsAuth?: NatsAuthConfig;
  /** IMPP_NATS_CA_FILE: verify NATS's certificate with this CA (TLS on). */
  natsCaFile?: string;
  /** Namespace for every NATS subject (IMPP_NATS_PREFIX). */
  natsPrefix?: string;
  redisUrl?: string;
  /** IMPP_REDIS_CA_FILE: verify Redis's certificate with this CA (rediss:// only). */
  redisCaFile?: string;
  /** Prefix of every Redis key (IMPP_REDIS_PREFIX). */
  redisPrefix: string;
  databaseUrl?: string;
  tlsCert?: string;
  tlsKey?: string;
  roles: Role[];
  /**
   * This process's id on the bus and in the session store: `${edgePrefix}-${instance}`, new on
   * every start (IMPP_EDGE_ID is the prefix).
   */
  edgeId: string;
  /** IMPP_EDGE_ID, or the host name made subject-safe: what the ids of this node's incarnations share. */
  edgePrefix: string;
  serverName: string;
  /** Where a draining edge sends its clients (IMPP_DRAIN_REDIRECT); unset = serverName. */
  drainRedirect?: string;
  domain: string;
  compression: boolean;
  limits: Limits;
  avatars: { cacheBytes: number; sweepMs: number };
  groups: { maxMembers: number; perUser: number; historyDays: number };
  heartbeat: { intervalMs: number; ttlMs: number };
  /** Offline messages (IMPP_OFFLINE_*): per-recipient caps, retention in days (undefined = off). */
  offline: { maxMessages: number; maxBytes: number; retentionDays: number | undefined; maxBatch: number };
  logLevel: string;
  /** IMPP_LOG_BODIES: message bodies in the trace-level frame log. */
  logBodies: boolean;
  /** IMPP_LOG_REPEATS_PER_MINUTE: cap on repeated info lines per kind. */
  logRepeatsPerMinute: number;
  /** IMPP_TRACE_MESSAGE_RATIO: share of requests whose traces are sampled (sessions always are). */
  traceMessageRatio: number;
  otlpEndpoint?: string;
  /** Clients refused at DEVICE BIND (IMPP_BANNED_CLIENTS). */
  bannedClients: ClientBan[];
  /** Unknown IMPP_* variables: not fatal, but worth a log line at start. */
  warnings: ConfigWarning[];
}

export interface NatsAuthConfig {
  token?: string;
  user?: string;
  password?: string;
  nkeySeedFile?: string;
  credsFile?: string;
}

/** The machine facts defaults depend on; injectable so loadConfig stays pure and testable. */
export interface Machine {
  hostname: string;
  pid: number;
  /** The per-start suffix of the edge id (10 of [0-9a-z]); random when not given. */
  instance?: string;
}

/** 10 random characters of [0-9a-z] (~51 bits): the per-start part of an edge id. */
export function newInstanceId(): string {
  const bytes = randomBytes(10);
  let out = "";
  for (const b of bytes) out += INSTANCE_ALPHABET[b % 36];
  return out;
}
const INSTANCE_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
/** An edge id made by this version: the prefix, "-", the instance. */
export const INSTANCE_SUFFIX = /-[0-9a-z]{10}$/;

type Env = NodeJS.ProcessEnv | Record<string, string | undefined>;

const KNOWN = new Set<string>(Object.values(S).map((s) => s.name));
// Variables of the test runner and scripts: read elsewhere, not typos.
const FOREIGN_PREFIXES = ["IMPP_TEST_", "IMPP_BENCH_"];
const FOREIGN = new Set(["IMPP_REQUIRE_SERVICES"]);

const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]", ""]);

export function loadConfig(
  env: Env = process.env,
  machine: Machine = { hostname: osHostname(), pid: process.pid },
): Config | ConfigError {
  const problems: ConfigProblem[] = [];

  // Empty means unset: compose files and Helm charts often write `VAR=` for "not configured".
  const raw = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };

  function read<T>(s: Setting<T>): T | undefined;
  function read<T>(s: Setting<T>, fallback: T): T;
  function read<T>(s: Setting<T>, fallback?: T): T | undefined {
    const value = raw(s.name);
    if (value === undefined) {
      if (s.default === undefined || s.computed) return fallback;
      const d = s.parse(s.default);
      if (!d.ok) throw new Error(`built-in default of ${s.name} is invalid: ${d.problem}`);
      return d.value;
    }
    const parsed = s.parse(value);
    if (parsed.ok) return parsed.value;
    // A secret is never echoed, nor a URL's userinfo.
    problems.push({
      variable: s.name,
      value: s.secret ? "(hidden)" : redactUserinfo(value),
      problem: parsed.problem,
    });
    return fallback;
  }

  const failed = (name: string) => problems.some((p) => p.variable === name);

  const port = read(S.port, 3158);
  const tlsPort = read(S.tlsPort);
  const host = read(S.host, "0.0.0.0");
  const httpPort = read(S.httpPort, 0);
  const tlsCert = read(S.tlsCert);
  const tlsKey = read(S.tlsKey);

  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    const missing = tlsCert === undefined ? S.tlsCert.name : S.tlsKey.name;
    const present = tlsCert === undefined ? S.tlsKey.name : S.tlsCert.name;
    problems.push({ variable: missing, value: undefined, problem: `must be set together with ${present}` });
  }

  // Two listeners on one port would fail at bind time with a less helpful message.
  const ports: Array<[string, number | undefined]> = [
    [S.port.name, port],
    [S.tlsPort.name, tlsPort],
    [S.httpPort.name, httpPort === 0 ? undefined : httpPort],
  ];
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const [a, pa] = ports[i]!;
      const [b, pb] = ports[j]!;
      if (pa !== undefined && pa === pb && !failed(a) && !failed(b)) {
        problems.push({ variable: b, value: String(pb), problem: `must differ from ${a}` });
      }
    }
  }

  const heartbeat = { intervalMs: read(S.heartbeatIntervalMs, 2000), ttlMs: read(S.heartbeatTtlMs, 10000) };
  if (!failed(S.heartbeatTtlMs.name) && !failed(S.heartbeatIntervalMs.name)) {
    // A TTL shorter than two beats declares live edges dead after one delayed heartbeat.
    if (heartbeat.ttlMs < 2 * heartbeat.intervalMs) {
      problems.push({
        variable: S.heartbeatTtlMs.name,
        value: String(heartbeat.ttlMs),
        problem: `must be at least twice ${S.heartbeatIntervalMs.name} (${heartbeat.intervalMs})`,
      });
    }
  }

  const serverHost = WILDCARD_HOSTS.has(host) ? machine.hostname : host;
  const defaultServerName =
    serverHost.includes(":") && !serverHost.startsWith("[")
      ? `[${serverHost}]:${port}`
      : `${serverHost}:${port}`;

  const edgePrefix = read(S.edgeId, toSubjectToken(machine.hostname).slice(0, EDGE_PREFIX_MAX));
  const instance = machine.instance ?? newInstanceId();

  const limits: Limits = {
    maxBlockSize: read(S.maxBlockSize, 0),
    idleTimeoutMs: read(S.idleTimeoutMs, 0),
    maxOutputBuffer: read(S.maxOutputBuffer, 0),
    devicesPerUser: read(S.devicesPerUser, 0),
    listLimit: read(S.listLimit, 0),
    loginAttemptsPerAccount: read(S.loginAttemptsPerAccount, 0),
    loginAccountWindowMs: read(S.loginAccountWindowMs, 0),
    loginAttemptsPerAddress: read(S.loginAttemptsPerAddress, 0),
    loginAddressWindowMs: read(S.loginAddressWindowMs, 0),
    loginAddressDelayMs: read(S.loginAddressDelayMs, 0),
    loginKnownGoodMs: read(S.loginKnownGoodMs, 0),
    requestTimeoutMs: read(S.requestTimeoutMs, 0),
    drainGraceMs: read(S.drainGraceMs, 0),
    maxConnections: read(S.maxConnections, 0),
    readyMaxConnectionsPercent: read(S.readyMaxConnectionsPercent, 90),
    tlsHandshakeTimeoutMs: read(S.tlsHandshakeTimeoutMs, 0),
    preLoginMaxBlock: read(S.preLoginMaxBlock, 0),
    maxTlvsPerBlock: read(S.maxTlvsPerBlock, 0),
    versionTimeoutMs: read(S.versionTimeoutMs, 0),
    featuresTimeoutMs: read(S.featuresTimeoutMs, 0),
    loginTimeoutMs: read(S.loginTimeoutMs, 0),
    preLoginMemory: read(S.preLoginMemory, 0),
    connectionWorkRate: read(S.connectionWorkRate, 0),
    accountWorkRate: read(S.accountWorkRate, 0),
  };

  const config: Config = {
    port,
    tlsPort,
    host,
    httpPort,
    dataDir: read(S.dataDir, "./.impp"),
    dataDirLockWaitMs: read(S.dataDirLockWaitMs, 15000),
    pgliteSharedBuffersMb: read(S.pgliteSharedBuffersMb, 16),
    maxSemiSpaceMb: read(S.maxSemiSpaceMb, 0),
    roles: read(S.roles, []),
    edgeId: `${edgePrefix}-${instance}`,
    edgePrefix,
    serverName: read(S.serverName, defaultServerName),
    domain: read(S.domain, "localhost"),
    compression: read(S.compression, true),
    redisPrefix: read(S.redisPrefix, "impp:"),
    bannedClients: read(S.bannedClients, []),
    limits,
    avatars: { cacheBytes: read(S.avatarCacheBytes, 0), sweepMs: read(S.avatarSweepMs, 0) },
    groups: {
      maxMembers: read(S.groupMaxMembers, 0),
      perUser: read(S.groupsPerUser, 0),
      historyDays: read(S.groupHistoryDays, 0),
    },
    heartbeat,
    offline: {
      maxMessages: read(S.offlineMaxMessages, 10_000),
      maxBytes: read(S.offlineMaxBytes, 64 * 1024 * 1024),
      retentionDays: read(S.offlineRetentionDays),
      maxBatch: read(S.offlineMaxBatch, 256),
    },
    logLevel: read(S.logLevel, "info"),
    logBodies: read(S.logBodies, false),
    logRepeatsPerMinute: read(S.logRepeatsPerMinute, 20),
    traceMessageRatio: read(S.traceMessageRatio, 0.1),
    warnings: unknownVariables(env),
  };
  // Optional fields are left out rather than set to undefined, so `"natsUrl" in config` means configured.
  const optional: Record<string, unknown> & {
    natsUrl?: string;
    redisUrl?: string;
    natsCaFile?: string;
    redisCaFile?: string;
  } = {
    natsUrl: read(S.natsUrl),
    natsPrefix: read(S.natsPrefix),
    drainRedirect: read(S.drainRedirect),
    redisUrl: read(S.redisUrl),
    databaseUrl: read(S.databaseUrl),
    tlsCert,
    tlsKey,
    otlpEndpoint: read(S.otlpEndpoint),
  };
  const natsAuth = readNatsAuth();
  if (natsAuth !== undefined) optional.natsAuth = natsAuth;
  optional.natsCaFile = read(S.natsCaFile);
  optional.redisCaFile = read(S.redisCaFile);
  if (optional.natsCaFile !== undefined && optional.natsUrl === undefined && !failed(S.natsUrl.name)) {
    problems.push({
      variable: S.natsCaFile.name,
      value: optional.natsCaFile,
      problem: `needs ${S.natsUrl.name}`,
    });
  }
  if (
    optional.redisCaFile !== undefined &&
    !optional.redisUrl?.startsWith("rediss:") &&
    !failed(S.redisUrl.name)
  ) {
    problems.push({
      variable: S.redisCaFile.name,
      value: optional.redisCaFile,
      problem: `needs a rediss:// ${S.redisUrl.name} (TLS)`,
    });
  }
  for (const [k, v] of Object.entries(optional)) {
    if (v !== undefined) (config as unknown as Record<string, unknown>)[k] = v;
  }

  return problems.length > 0 ? new ConfigError(problems) : config;

  /** The NATS credentials given as settings: one kind, a user with its password, and a URL to use them on. */
  function readNatsAuth(): NatsAuthConfig | undefined {
    const auth: NatsAuthConfig = {};
    const token = read(S.natsToken);
    const user = read(S.natsUser);
    const password = read(S.natsPassword);
    const nkeySeedFile = read(S.natsNkeySeedFile);
    const credsFile = read(S.natsCredsFile);
    if (token !== undefined) auth.token = token;
    if (user !== undefined) auth.user = user;
    if (password !== undefined) auth.password = password;
    if (nkeySeedFile !== undefined) auth.nkeySeedFile = nkeySeedFile;
    if (credsFile !== undefined) auth.credsFile = credsFile;
    const given: string[] = [];
    if (token !== undefined) given.push(S.natsToken.name);
    if (user !== undefined || password !== undefined)
      given.push(user !== undefined ? S.natsUser.name : S.natsPassword.name);
    if (nkeySeedFile !== undefined) given.push(S.natsNkeySeedFile.name);
    if (credsFile !== undefined) given.push(S.natsCredsFile.name);
    if (given.length === 0) return undefined;
    if ((user === undefined) !== (password === undefined)) {
      const missing = user === undefined ? S.natsUser.name : S.natsPassword.name;
      const present = user === undefined ? S.natsPassword.name : S.natsUser.name;
      problems.push({ variable: missing, value: undefined, problem: `must be set together with ${present}` });
    }
    if (given.length > 1) {
      problems.push({
        variable: given[1]!,
        value: undefined,
        problem: `NATS credentials are given more than one way (${given.join(", ")}): set one`,
      });
    }
    const natsUrl = raw(S.natsUrl.name);
    if (natsUrl === undefined) {
      problems.push({ variable: given[0]!, value: undefined, problem: `needs ${S.natsUrl.name}` });
    } else if (/\/\/[^@/,]*@/.test(natsUrl)) {
      problems.push({
        variable: given[0]!,
        value: undefined,
        problem: `${S.natsUrl.name} carries credentials already: set them in one place`,
      });
    }
    return auth;
  }
}

function unknownVariables(env: Env): ConfigWarning[] {
  const out: ConfigWarning[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith("IMPP_") || KNOWN.has(name) || FOREIGN.has(name)) continue;
    if (FOREIGN_PREFIXES.some((p) => name.startsWith(p))) continue;
    const near = closest(name);
    out.push({
      variable: name,
      problem:
        near === undefined
          ? "unknown variable, ignored"
          : `unknown variable, ignored (did you mean ${near}?)`,
    });
  }
  return out;
}

function closest(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 4; // further than 3 edits is a different name, not a typo
  for (const known of KNOWN) {
    const d = editDistance(name, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
