import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type Config,
  ConfigError,
  loadConfig,
  redactUrl,
  renderSettingsMarkdown,
  renderSettingsText,
  settings,
} from "./index.js";

const machine = { hostname: "node.a.local", pid: 4242, instance: "k3x9q0w2ab" };

function ok(env: Record<string, string | undefined>): Config {
  const c = loadConfig(env, machine);
  if (c instanceof ConfigError) assert.fail(c.message);
  return c;
}

function fails(env: Record<string, string | undefined>): ConfigError {
  const c = loadConfig(env, machine);
  assert.ok(c instanceof ConfigError, "expected a ConfigError");
  assert.equal(c.kind, "CONFIG_INVALID");
  return c;
}

function problemOf(env: Record<string, string | undefined>, variable: string): string {
  const e = fails(env);
  const p = e.problems.find((x) => x.variable === variable);
  assert.ok(p, `no problem named ${variable} in ${e.message}`);
  return p.problem;
}

describe("loadConfig defaults", () => {
  test("an empty environment gives the documented defaults", () => {
    const c = ok({});
    assert.deepEqual(c, {
      port: 3158,
      tlsPort: undefined,
      host: "0.0.0.0",
      httpPort: 9158,
      dataDir: "./.impp",
      dataDirLockWaitMs: 15000,
      pgliteSharedBuffersMb: 16,
      maxSemiSpaceMb: 0,
      roles: ["edge", "auth", "roster", "presence", "messaging", "avatar", "groupchat"],
      edgeId: "node-a-local-k3x9q0w2ab",
      edgePrefix: "node-a-local",
      serverName: "node.a.local:3158",
      domain: "localhost",
      compression: true,
      redisPrefix: "impp:",
      bannedClients: [],
      limits: {
        maxBlockSize: 262144,
        idleTimeoutMs: 300000,
        maxOutputBuffer: 1048576,
        devicesPerUser: 10,
        listLimit: 1000,
        loginAttemptsPerAccount: 5,
        loginAccountWindowMs: 300000,
        loginAttemptsPerAddress: 20,
        loginAddressWindowMs: 60000,
        loginAddressDelayMs: 500,
        loginKnownGoodMs: 2592000000,
        requestTimeoutMs: 5000,
        drainGraceMs: 10000,
        maxConnections: 100000,
        readyMaxConnectionsPercent: 90,
        tlsHandshakeTimeoutMs: 5000,
        preLoginMaxBlock: 4096,
        maxTlvsPerBlock: 1024,
        versionTimeoutMs: 5000,
        featuresTimeoutMs: 5000,
        loginTimeoutMs: 30000,
        preLoginMemory: 134217728,
        connectionWorkRate: 4194304,
        accountWorkRate: 8388608,
      },
      avatars: { cacheBytes: 16777216, sweepMs: 3600000 },
      groups: { maxMembers: 500, perUser: 100, historyDays: 0 },
      heartbeat: { intervalMs: 2000, ttlMs: 10000 },
      offline: { maxMessages: 10000, maxBytes: 64 * 1024 * 1024, retentionDays: undefined, maxBatch: 256 },
      logLevel: "info",
      logBodies: false,
      logRepeatsPerMinute: 20,
      traceMessageRatio: 0.1,
      warnings: [],
    });
    assert.equal("natsUrl" in c, false, "unset optional settings are absent");
  });

  test("the default edge id is subject-safe whatever the host name", () => {
    const c = loadConfig({}, { hostname: "my host.*>例", pid: 7 });
    assert.ok(!(c instanceof ConfigError));
    assert.match(c.edgeId, /^[A-Za-z0-9_-]{1,64}$/);
    assert.match(c.edgeId, /^my-host-[0-9a-z]{10}$/);
    assert.equal(c.edgePrefix, "my-host");
    const long = loadConfig({}, { hostname: "h".repeat(80), pid: 1 });
    assert.ok(!(long instanceof ConfigError));
    assert.ok(long.edgeId.length <= 64, long.edgeId);
  });

  test("every start gets its own edge id, even as the same pid on the same host (a container's PID 1)", () => {
    const a = loadConfig({}, { hostname: "box", pid: 1 });
    const b = loadConfig({}, { hostname: "box", pid: 1 });
    assert.ok(!(a instanceof ConfigError) && !(b instanceof ConfigError));
    assert.notEqual(a.edgeId, b.edgeId);
    assert.equal(a.edgePrefix, b.edgePrefix);
  });

  test("IMPP_EDGE_ID is the prefix of the id, not the whole id", () => {
    const c = ok({ IMPP_EDGE_ID: "edge-a" });
    assert.equal(c.edgeId, "edge-a-k3x9q0w2ab");
    assert.equal(c.edgePrefix, "edge-a");
    assert.ok(loadConfig({ IMPP_EDGE_ID: "x".repeat(54) }, machine) instanceof ConfigError);
  });

  test("the default server name uses the bind address when it is a specific one", () => {
    assert.equal(ok({ IMPP_HOST: "10.0.0.5", IMPP_PORT: "4000" }).serverName, "10.0.0.5:4000");
    assert.equal(ok({ IMPP_HOST: "::1" }).serverName, "[::1]:3158");
    assert.equal(ok({ IMPP_HOST: "::" }).serverName, "node.a.local:3158");
  });

  test("an empty value counts as unset", () => {
    const c = ok({ IMPP_PORT: "", IMPP_REDIS_URL: "  ", IMPP_TLS_CERT: "", IMPP_TLS_KEY: "" });
    assert.equal(c.port, 3158);
    assert.equal("redisUrl" in c, false);
  });

  test("process.env is the default source", () => {
    const c = loadConfig();
    assert.ok(c instanceof ConfigError || typeof c.port === "number");
  });
});

describe("loadConfig parses every variable", () => {
  test("all set", () => {
    const c = ok({
      IMPP_PORT: "4000",
      IMPP_TLS_PORT: "443",
      IMPP_HOST: "127.0.0.1",
      IMPP_HTTP_PORT: "0",
      IMPP_DATA_DIR: "/var/lib/impp",
      IMPP_NATS_URL: "nats://nats:4222",
      IMPP_REDIS_URL: "rediss://:secret@redis:6380/2",
      IMPP_REDIS_PREFIX: "tenant-a:",
      IMPP_NATS_PREFIX: "tenant-a",
      IMPP_DRAIN_REDIRECT: "impp2.example.com:3158",
      IMPP_BANNED_CLIENTS: "OldChat, Trillian<6.1",
      IMPP_DATABASE_URL: "postgresql://u:p@db/impp",
      IMPP_TLS_CERT: "/certs/tls.crt",
      IMPP_TLS_KEY: "/certs/tls.key",
      IMPP_ROLES: " Presence, edge ,edge",
      IMPP_EDGE_ID: "edge_7-b",
      IMPP_LOG_BODIES: "true",
      IMPP_LOG_REPEATS_PER_MINUTE: "5",
      IMPP_SERVER_NAME: "impp.example.com:443",
      IMPP_DOMAIN: "Example.COM",
      IMPP_COMPRESSION: "off",
      IMPP_MAX_BLOCK: "65536",
      IMPP_IDLE_TIMEOUT_MS: "60000",
      IMPP_MAX_OUTPUT_BUFFER: "2097152",
      IMPP_MAX_DEVICES: "3",
      IMPP_LOGIN_ATTEMPTS_PER_ACCOUNT: "6",
      IMPP_LOGIN_ACCOUNT_WINDOW_MS: "600000",
      IMPP_LOGIN_ATTEMPTS_PER_ADDRESS: "30",
      IMPP_LOGIN_ADDRESS_WINDOW_MS: "120000",
      IMPP_LOGIN_ADDRESS_DELAY_MS: "250",
      IMPP_LOGIN_KNOWN_GOOD_MS: "86400000",
      IMPP_REQUEST_TIMEOUT_MS: "2500",
      IMPP_DRAIN_GRACE_MS: "0",
      IMPP_MAX_CONNECTIONS: "500",
      IMPP_READY_MAX_CONNECTIONS_PERCENT: "75",
      IMPP_TRACE_MESSAGE_RATIO: "0.25",
      IMPP_TLS_HANDSHAKE_TIMEOUT_MS: "3000",
      IMPP_EDGE_HEARTBEAT_MS: "500",
      IMPP_EDGE_TTL_MS: "1500",
      IMPP_OFFLINE_MAX_MESSAGES: "500",
      IMPP_OFFLINE_MAX_BYTES: "1048576",
      IMPP_OFFLINE_RETENTION_DAYS: "30",
      IMPP_LOG_LEVEL: "DEBUG",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318",
    });
    assert.deepEqual(c, {
      port: 4000,
      tlsPort: 443,
      host: "127.0.0.1",
      httpPort: 0,
      dataDir: "/var/lib/impp",
      dataDirLockWaitMs: 15000,
      pgliteSharedBuffersMb: 16,
      maxSemiSpaceMb: 0,
      natsUrl: "nats://nats:4222",
      natsPrefix: "tenant-a",
      drainRedirect: "impp2.example.com:3158",
      redisUrl: "rediss://:secret@redis:6380/2",
      redisPrefix: "tenant-a:",
      bannedClients: [{ name: "OldChat" }, { name: "Trillian", below: "6.1" }],
      databaseUrl: "postgresql://u:p@db/impp",
      tlsCert: "/certs/tls.crt",
      tlsKey: "/certs/tls.key",
      roles: ["edge", "presence"],
      edgeId: "edge_7-b-k3x9q0w2ab",
      edgePrefix: "edge_7-b",
      serverName: "impp.example.com:443",
      domain: "example.com",
      compression: false,
      limits: {
        maxBlockSize: 65536,
        idleTimeoutMs: 60000,
        maxOutputBuffer: 2097152,
        devicesPerUser: 3,
        listLimit: 1000,
        loginAttemptsPerAccount: 6,
        loginAccountWindowMs: 600000,
        loginAttemptsPerAddress: 30,
        loginAddressWindowMs: 120000,
        loginAddressDelayMs: 250,
        loginKnownGoodMs: 86400000,
        requestTimeoutMs: 2500,
        drainGraceMs: 0,
        maxConnections: 500,
        readyMaxConnectionsPercent: 75,
        tlsHandshakeTimeoutMs: 3000,
        preLoginMaxBlock: 4096,
        maxTlvsPerBlock: 1024,
        versionTimeoutMs: 5000,
        featuresTimeoutMs: 5000,
        loginTimeoutMs: 30000,
        preLoginMemory: 134217728,
        connectionWorkRate: 4194304,
        accountWorkRate: 8388608,
      },
      avatars: { cacheBytes: 16777216, sweepMs: 3600000 },
      groups: { maxMembers: 500, perUser: 100, historyDays: 0 },
      heartbeat: { intervalMs: 500, ttlMs: 1500 },
      offline: { maxMessages: 500, maxBytes: 1048576, retentionDays: 30, maxBatch: 256 },
      logLevel: "debug",
      logBodies: true,
      logRepeatsPerMinute: 5,
      traceMessageRatio: 0.25,
      otlpEndpoint: "http://jaeger:4318",
      warnings: [],
    });
  });

  test("booleans accept the usual spellings", () => {
    for (const v of ["1", "true", "TRUE", "yes", "on"])
      assert.equal(ok({ IMPP_COMPRESSION: v }).compression, true);
    for (const v of ["0", "false", "No", "off"]) assert.equal(ok({ IMPP_COMPRESSION: v }).compression, false);
  });

  test("URL schemes: every accepted one", () => {
    assert.equal(ok({ IMPP_NATS_URL: "tls://n:4222" }).natsUrl, "tls://n:4222");
    assert.equal(ok({ IMPP_REDIS_URL: "redis://r" }).redisUrl, "redis://r");
    assert.equal(ok({ IMPP_DATABASE_URL: "postgres://d/x" }).databaseUrl, "postgres://d/x");
  });

  test("every documented variable is validated (none is silently ignored)", () => {
    const env: Record<string, string> = {};
    for (const s of settings) env[s.name] = "x";
    const e = fails(env);
    // Each variable either parsed "x" or was named in the error; none was ignored.
    const named = new Set(e.problems.map((p) => p.variable));
    for (const s of settings) {
      if (
        [
          "IMPP_HOST",
          "IMPP_DATA_DIR",
          "IMPP_TLS_CERT",
          "IMPP_TLS_KEY",
          "IMPP_EDGE_ID",
          "IMPP_DOMAIN",
          "IMPP_REDIS_PREFIX",
          "IMPP_NATS_PREFIX",
          "IMPP_BANNED_CLIENTS",
          // Free text (a user name, a secret, a file path read when connecting).
          "IMPP_NATS_USER",
          "IMPP_NATS_PASSWORD",
          "IMPP_NATS_TOKEN",
          "IMPP_NATS_NKEY_SEED_FILE",
          "IMPP_NATS_CREDS_FILE",
          "IMPP_NATS_CA_FILE",
          "IMPP_REDIS_CA_FILE",
        ].includes(s.name)
      )
        continue;
      assert.ok(named.has(s.name), `${s.name}=x should be rejected`);
    }
  });
});

describe("loadConfig rejects bad values, naming each", () => {
  test("integers: not a number, fractional, exponent, out of range", () => {
    assert.equal(problemOf({ IMPP_PORT: "abc" }, "IMPP_PORT"), "must be an integer from 1 to 65535");
    assert.equal(
      fails({ IMPP_PORT: "abc" }).message.includes("IMPP_PORT=abc: must be an integer from 1 to 65535"),
      true,
    );
    for (const v of ["1.5", "1e3", "0", "65536", "-1", "0x10"]) {
      assert.match(problemOf({ IMPP_PORT: v }, "IMPP_PORT"), /integer from 1 to 65535/, v);
    }
    assert.match(problemOf({ IMPP_HTTP_PORT: "-1" }, "IMPP_HTTP_PORT"), /from 0 to 65535/);
    assert.match(problemOf({ IMPP_MAX_DEVICES: "0" }, "IMPP_MAX_DEVICES"), /from 1 to 1000/);
    assert.match(problemOf({ IMPP_MAX_BLOCK: "99999999999999999999" }, "IMPP_MAX_BLOCK"), /integer/);
    assert.match(problemOf({ IMPP_IDLE_TIMEOUT_MS: "10" }, "IMPP_IDLE_TIMEOUT_MS"), /from 1000/);
  });

  test("ratios: a plain decimal from 0 to 1", () => {
    for (const [v, n] of [
      ["0", 0],
      ["1", 1],
      ["0.5", 0.5],
      [".25", 0.25],
      ["1.0", 1],
    ] as const)
      assert.equal(ok({ IMPP_TRACE_MESSAGE_RATIO: v }).traceMessageRatio, n, v);
    for (const v of ["1.5", "-0.1", "1e-2", "half", "0x1", "NaN"])
      assert.match(problemOf({ IMPP_TRACE_MESSAGE_RATIO: v }, "IMPP_TRACE_MESSAGE_RATIO"), /from 0 to 1/, v);
    assert.match(
      problemOf({ IMPP_READY_MAX_CONNECTIONS_PERCENT: "0" }, "IMPP_READY_MAX_CONNECTIONS_PERCENT"),
      /from 1 to 100/,
    );
  });

  test("booleans", () => {
    assert.match(problemOf({ IMPP_COMPRESSION: "maybe" }, "IMPP_COMPRESSION"), /true or false/);
  });

  test("URL: not a URL, wrong scheme, no host", () => {
    assert.match(problemOf({ IMPP_NATS_URL: "localhost:4222" }, "IMPP_NATS_URL"), /scheme|URL/);
    assert.match(
      problemOf({ IMPP_NATS_URL: "http://n:4222" }, "IMPP_NATS_URL"),
      /scheme must be one of nats:\/\//,
    );
    assert.match(problemOf({ IMPP_REDIS_URL: "redis:/" }, "IMPP_REDIS_URL"), /host/);
    assert.match(problemOf({ IMPP_REDIS_URL: "not a url" }, "IMPP_REDIS_URL"), /must be a URL/);
    assert.match(
      problemOf({ IMPP_DATABASE_URL: "mysql://d/x" }, "IMPP_DATABASE_URL"),
      /postgres:\/\/, postgresql:\/\//,
    );
    assert.match(
      problemOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://j:4317" }, "OTEL_EXPORTER_OTLP_ENDPOINT"),
      /http:\/\//,
    );
  });

  test("TLS cert and key: both or neither", () => {
    const a = fails({ IMPP_TLS_CERT: "/c" });
    assert.deepEqual(a.problems, [
      { variable: "IMPP_TLS_KEY", value: undefined, problem: "must be set together with IMPP_TLS_CERT" },
    ]);
    const b = fails({ IMPP_TLS_KEY: "/k" });
    assert.equal(b.problems[0]?.variable, "IMPP_TLS_CERT");
  });

  test("roles: unknown, empty", () => {
    assert.match(problemOf({ IMPP_ROLES: "edge,bogus,x" }, "IMPP_ROLES"), /unknown entries bogus, x/);
    assert.match(problemOf({ IMPP_ROLES: " , " }, "IMPP_ROLES"), /at least one/);
  });

  test("a NATS prefix that is not one subject token", () => {
    problemOf({ IMPP_NATS_PREFIX: "a.b" }, "IMPP_NATS_PREFIX");
    problemOf({ IMPP_NATS_PREFIX: "a*" }, "IMPP_NATS_PREFIX");
  });

  test("banned clients: a rule without a name, or a version that is not dotted numbers", () => {
    assert.match(problemOf({ IMPP_BANNED_CLIENTS: "<6" }, "IMPP_BANNED_CLIENTS"), /name is missing/);
    assert.match(problemOf({ IMPP_BANNED_CLIENTS: "Trillian<six" }, "IMPP_BANNED_CLIENTS"), /dotted numbers/);
    assert.match(
      problemOf({ IMPP_BANNED_CLIENTS: "Trillian<6.1b" }, "IMPP_BANNED_CLIENTS"),
      /dotted numbers/,
    );
  });

  test("a Redis prefix with spaces", () => {
    assert.match(problemOf({ IMPP_REDIS_PREFIX: "my prefix:" }, "IMPP_REDIS_PREFIX"), /spaces/);
  });

  test("edge id, server name, domain, log level", () => {
    assert.match(problemOf({ IMPP_EDGE_ID: "a.b" }, "IMPP_EDGE_ID"), /letters, digits/);
    assert.match(problemOf({ IMPP_EDGE_ID: "x".repeat(54) }, "IMPP_EDGE_ID"), /1 to 53/);
    assert.match(problemOf({ IMPP_SERVER_NAME: "impp.example.com" }, "IMPP_SERVER_NAME"), /host:port/);
    assert.match(problemOf({ IMPP_DOMAIN: "-bad-.com" }, "IMPP_DOMAIN"), /domain name/);
    assert.match(problemOf({ IMPP_LOG_LEVEL: "loud" }, "IMPP_LOG_LEVEL"), /one of fatal, error/);
    assert.match(problemOf({ IMPP_HOST: "a b" }, "IMPP_HOST"), /spaces/);
  });

  test("listeners on the same port", () => {
    assert.match(problemOf({ IMPP_TLS_PORT: "3158" }, "IMPP_TLS_PORT"), /must differ from IMPP_PORT/);
    assert.match(problemOf({ IMPP_HTTP_PORT: "3158" }, "IMPP_HTTP_PORT"), /must differ from IMPP_PORT/);
    // A port that failed to parse does not also produce a collision complaint.
    assert.deepEqual(
      fails({ IMPP_PORT: "x", IMPP_TLS_PORT: "3158" }).problems.map((p) => p.variable),
      ["IMPP_PORT"],
    );
  });

  test("edge TTL must cover at least two heartbeats", () => {
    assert.match(
      problemOf({ IMPP_EDGE_TTL_MS: "3000" }, "IMPP_EDGE_TTL_MS"),
      /at least twice IMPP_EDGE_HEARTBEAT_MS/,
    );
    assert.match(
      problemOf({ IMPP_EDGE_HEARTBEAT_MS: "6000" }, "IMPP_EDGE_TTL_MS"),
      /at least twice IMPP_EDGE_HEARTBEAT_MS \(6000\)/,
    );
    ok({ IMPP_EDGE_HEARTBEAT_MS: "5000" });
  });

  test("all problems are reported at once", () => {
    const e = fails({
      IMPP_PORT: "abc",
      IMPP_MAX_DEVICES: "many",
      IMPP_REDIS_URL: "http://r",
      IMPP_ROLES: "nope",
      IMPP_TLS_CERT: "/c",
      IMPP_COMPRESSION: "?",
    });
    assert.deepEqual(e.problems.map((p) => p.variable).sort(), [
      "IMPP_COMPRESSION",
      "IMPP_MAX_DEVICES",
      "IMPP_PORT",
      "IMPP_REDIS_URL",
      "IMPP_ROLES",
      "IMPP_TLS_KEY",
    ]);
    for (const p of e.problems) assert.ok(e.message.includes(p.variable), `message names ${p.variable}`);
    assert.ok(e instanceof Error);
    assert.equal(e.name, "ConfigError");
  });
});

describe("unknown variables", () => {
  test("unknown IMPP_* variables are warnings, with a suggestion for typos", () => {
    const c = ok({
      IMPP_PROT: "1",
      IMPP_SOMETHING_ELSE: "2",
      PATH: "/bin",
      IMPP_TEST_REDIS_URL: "redis://x",
    });
    assert.deepEqual(c.warnings, [
      { variable: "IMPP_PROT", problem: "unknown variable, ignored (did you mean IMPP_PORT?)" },
      { variable: "IMPP_SOMETHING_ELSE", problem: "unknown variable, ignored" },
    ]);
  });
});

describe("documentation", () => {
  test("the markdown table names every variable with its default", () => {
    const md = renderSettingsMarkdown();
    for (const s of settings) {
      assert.ok(md.includes(`\`${s.name}\``), s.name);
      if (s.default !== undefined) assert.ok(md.includes(`\`${s.default}\``), `${s.name} default`);
    }
    for (const name of [
      "IMPP_LOGIN_ATTEMPTS_PER_ACCOUNT",
      "IMPP_LOGIN_ACCOUNT_WINDOW_MS",
      "IMPP_LOGIN_ATTEMPTS_PER_ADDRESS",
      "IMPP_LOGIN_ADDRESS_WINDOW_MS",
      "IMPP_TLS_HANDSHAKE_TIMEOUT_MS",
      "IMPP_MAX_CONNECTIONS",
    ]) {
      assert.ok(md.includes(name), name);
    }
    assert.ok(renderSettingsText().includes("IMPP_MAX_DEVICES"));
  });

  test("documented defaults are the defaults loadConfig applies", () => {
    const c = ok({});
    const byName = new Map(settings.map((s) => [s.name, s.default]));
    assert.equal(byName.get("IMPP_PORT"), String(c.port));
    assert.equal(byName.get("IMPP_MAX_DEVICES"), String(c.limits.devicesPerUser));
    assert.equal(byName.get("IMPP_EDGE_TTL_MS"), String(c.heartbeat.ttlMs));
    assert.equal(byName.get("IMPP_ROLES"), c.roles.join(","));
  });

  test("redactUrl masks passwords only", () => {
    assert.equal(redactUrl("postgres://u:pw@db/x"), "postgres://u:***@db/x");
    assert.equal(redactUrl("redis://r:6379"), "redis://r:6379");
  });
});

describe("credentials for NATS, Redis and Postgres", () => {
  const nats = { IMPP_NATS_URL: "nats://n:4222" };

  test("NATS credentials as settings: each kind alone", () => {
    assert.deepEqual(ok({ ...nats, IMPP_NATS_TOKEN: "t" }).natsAuth, { token: "t" });
    assert.deepEqual(ok({ ...nats, IMPP_NATS_USER: "u", IMPP_NATS_PASSWORD: "p" }).natsAuth, {
      user: "u",
      password: "p",
    });
    assert.deepEqual(ok({ ...nats, IMPP_NATS_NKEY_SEED_FILE: "/s.nk" }).natsAuth, { nkeySeedFile: "/s.nk" });
    assert.deepEqual(ok({ ...nats, IMPP_NATS_CREDS_FILE: "/u.creds" }).natsAuth, { credsFile: "/u.creds" });
    assert.equal(ok({ ...nats, IMPP_NATS_CA_FILE: "/ca.pem" }).natsCaFile, "/ca.pem");
    assert.equal("natsAuth" in ok(nats), false);
  });

  test("credentials in the NATS URL, also for several servers", () => {
    const url = "nats://u:p@a:4222,nats://u:p@b:4222";
    assert.equal(ok({ IMPP_NATS_URL: url }).natsUrl, url);
    assert.equal(ok({ IMPP_NATS_URL: "nats://tok@a:4222" }).natsUrl, "nats://tok@a:4222");
  });

  test("NATS credentials: a user without password, two kinds, no URL, or the URL has some too", () => {
    assert.match(
      problemOf({ ...nats, IMPP_NATS_USER: "u" }, "IMPP_NATS_PASSWORD"),
      /together with IMPP_NATS_USER/,
    );
    assert.match(
      problemOf({ ...nats, IMPP_NATS_TOKEN: "t", IMPP_NATS_CREDS_FILE: "/c" }, "IMPP_NATS_CREDS_FILE"),
      /more than one way \(IMPP_NATS_TOKEN, IMPP_NATS_CREDS_FILE\)/,
    );
    assert.match(problemOf({ IMPP_NATS_TOKEN: "t" }, "IMPP_NATS_TOKEN"), /needs IMPP_NATS_URL/);
    assert.match(
      problemOf({ IMPP_NATS_URL: "nats://u:p@n", IMPP_NATS_TOKEN: "t" }, "IMPP_NATS_TOKEN"),
      /carries credentials already/,
    );
    assert.match(problemOf({ IMPP_NATS_CA_FILE: "/ca" }, "IMPP_NATS_CA_FILE"), /needs IMPP_NATS_URL/);
  });

  test("a Redis CA file needs rediss://", () => {
    assert.equal(ok({ IMPP_REDIS_URL: "rediss://r", IMPP_REDIS_CA_FILE: "/ca" }).redisCaFile, "/ca");
    assert.match(
      problemOf({ IMPP_REDIS_URL: "redis://r", IMPP_REDIS_CA_FILE: "/ca" }, "IMPP_REDIS_CA_FILE"),
      /needs a rediss:\/\//,
    );
  });

  test("no secret is ever in a configuration error: URL userinfo is masked, secret settings hidden", () => {
    const e = fails({
      IMPP_NATS_URL: "nats://u:hunter2@n:4222,ftp://u:hunter2@x",
      IMPP_REDIS_URL: "http://:hunter3@r",
      IMPP_DATABASE_URL: "mysql://u:hunter4@d/x",
      IMPP_NATS_USER: "u",
    });
    assert.ok(!/hunter/.test(e.message), e.message);
    assert.match(e.message, /IMPP_REDIS_URL=http:\/\/\*\*\*@r/);
    const hidden = fails({ ...nats, IMPP_NATS_PASSWORD: "hunter5" });
    assert.ok(!hidden.message.includes("hunter5"), hidden.message);
  });

  test("the Postgres URL carries sslmode and sslrootcert (pg reads them); documented", () => {
    const url = "postgres://u:p@d/x?sslmode=verify-full&sslrootcert=/etc/ca.pem";
    assert.equal(ok({ IMPP_DATABASE_URL: url }).databaseUrl, url);
    assert.match(renderSettingsMarkdown(), /sslmode=verify-full&sslrootcert=/);
  });
});
