// Starts a whole IMPP server for end-to-end tests and the benchmark, in one of
// three shapes: embedded in this process, embedded in a child process, or
// distributed — services and N edges as separate processes on real NATS,
// Redis and a fresh PostgreSQL database. Real parts everywhere; nothing mocked.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type AccountsAdmin, createAccountsAdmin } from "@impp/auth";
import { ConfigError, loadConfig, ROLES } from "@impp/config";
import { loadOrCreateTls } from "@impp/edge";
import { openStore, type Store } from "@impp/store";
import pg from "pg";
import { remoteAdmin } from "../commands/user.js";
import { type ServerHandle, startServer } from "../runtime.js";

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "bin.js");

export type ClusterMode = "embedded" | "embedded-process" | "distributed";

export interface ClusterOptions {
  mode: ClusterMode;
  /** Distributed: how many edge processes (default 2). */
  edges?: number;
  /** Extra IMPP_* settings for every server process (limits, timeouts). */
  env?: Record<string, string>;
  /** Distributed: admin URLs of the real services (default: the IMPP_TEST_* variables). */
  natsUrl?: string;
  redisUrl?: string;
  adminDatabaseUrl?: string;
  /** Forward child output to this process's stderr (debugging). */
  verbose?: boolean;
  /** Extra node flags for server processes (e.g. --cpu-prof when profiling). */
  nodeArgs?: string[];
}

export interface EdgeEndpoint {
  host: string;
  port: number;
  pid: number;
  edgeId: string;
}

export interface Cluster {
  readonly mode: ClusterMode;
  readonly edges: EdgeEndpoint[];
  /** Every server process (for CPU and memory figures). */
  pids(): number[];
  addUser(name: string, password: string): Promise<void>;
  /** SIGKILL (or another signal) one edge process; distributed and embedded-process only. */
  killEdge(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** SIGKILL the services process (auth, presence, messaging); distributed only. */
  killServices(): Promise<void>;
  /**
   * Starts a killed edge process again with the same settings, port and data folder (embedded-process:
   * the whole server, on the same PGlite folder); distributed and embedded-process only.
   */
  restartEdge(index: number): Promise<void>;
  /** The in-process server (embedded mode only). */
  readonly server: ServerHandle | undefined;
  stop(): Promise<void>;
}

export class ClusterError extends Error {
  override readonly name = "ClusterError";
  constructor(
    readonly kind: "START_FAILED" | "SERVICE_UNREACHABLE" | "NOT_SUPPORTED",
    message: string,
  ) {
    super(message);
  }
}

/** A free TCP port on 127.0.0.1 (closed again, so a child can bind it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const BASE_ENV: Record<string, string> = {
  IMPP_HOST: "127.0.0.1",
  IMPP_HTTP_PORT: "0",
  IMPP_LOG_LEVEL: process.env.IMPP_LOG_LEVEL ?? "silent",
};

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "impp-cluster-"));
  const cleanup: Array<() => Promise<void>> = [async () => rm(dataDir, { recursive: true, force: true })];
  const run = async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
    cleanup.length = 0;
  };
  try {
    if (opts.mode === "embedded") return await embeddedInProcess(opts, dataDir, run, cleanup);
    if (opts.mode === "embedded-process") return await embeddedChild(opts, dataDir, run, cleanup);
    return await distributed(opts, dataDir, run, cleanup);
  } catch (e) {
    await run();
    throw e;
  }
}

async function embeddedInProcess(
  opts: ClusterOptions,
  dataDir: string,
  run: () => Promise<void>,
  cleanup: Array<() => Promise<void>>,
): Promise<Cluster> {
  const { value: server } = await onFreePort((port) => {
    const c = loadConfig({ ...BASE_ENV, IMPP_PORT: String(port), IMPP_DATA_DIR: dataDir, ...opts.env });
    if (c instanceof ConfigError) throw new ClusterError("START_FAILED", c.message);
    return startServer(c);
  });
  const config = server.config;
  cleanup.push(() => server.stop());
  const admin = createAccountsAdmin(server.store!, { domain: config.domain });
  return {
    mode: "embedded",
    edges: [{ host: "127.0.0.1", port: server.edge!.ports.plain, pid: process.pid, edgeId: config.edgeId }],
    pids: () => [process.pid],
    addUser: (name, password) => addWith(admin, name, password),
    killEdge: async () => {
      throw new ClusterError("NOT_SUPPORTED", "cannot kill the test's own process");
    },
    killServices: async () => {
      throw new ClusterError("NOT_SUPPORTED", "cannot kill the test's own process");
    },
    restartEdge: async () => {
      throw new ClusterError("NOT_SUPPORTED", "cannot restart the test's own process");
    },
    server,
    stop: run,
  };
}

async function addWith(admin: AccountsAdmin, name: string, password: string): Promise<void> {
  const r = await admin.add(name, password);
  if (!r.ok && r.code !== "ACCOUNT_EXISTS")
    throw new ClusterError("START_FAILED", `cannot add ${name}: ${r.message}`);
}

async function embeddedChild(
  opts: ClusterOptions,
  dataDir: string,
  run: () => Promise<void>,
  cleanup: Array<() => Promise<void>>,
): Promise<Cluster> {
  const env: Record<string, string> = {
    ...BASE_ENV,
    IMPP_DATA_DIR: dataDir,
    IMPP_EDGE_ID: "embedded",
    ...opts.env,
  };
  const started = await spawnOnFreePort(env, opts);
  let child = started.child;
  const port = started.port;
  env.IMPP_PORT = String(port);
  cleanup.push(() => stopChild(child));
  const edges = [{ host: "127.0.0.1", port, pid: child.pid!, edgeId: "embedded" }];
  return {
    mode: "embedded-process",
    edges,
    pids: () => [child.pid!],
    // The server holds the embedded database: go through its admin endpoint, as `impp user` does.
    addUser: async (name, password) => addWith(await remoteAdmin(dataDir), name, password),
    killEdge: async (_i, signal = "SIGKILL") => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      await exited;
    },
    killServices: async () => {
      throw new ClusterError("NOT_SUPPORTED", "the embedded server runs its services in the edge's process");
    },
    restartEdge: async () => {
      child = await spawnServer(env, opts.verbose, opts.nodeArgs);
      edges[0]!.pid = child.pid!;
    },
    server: undefined,
    stop: run,
  };
}

async function distributed(
  opts: ClusterOptions,
  dataDir: string,
  run: () => Promise<void>,
  cleanup: Array<() => Promise<void>>,
): Promise<Cluster> {
  const natsUrl = opts.natsUrl ?? process.env.IMPP_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
  const redisUrl = opts.redisUrl ?? process.env.IMPP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
  const adminUrl =
    opts.adminDatabaseUrl ??
    process.env.IMPP_TEST_DATABASE_URL ??
    "postgres://postgres@127.0.0.1:5432/postgres";

  // A fresh database per cluster: runs never see each other's accounts.
  const dbName = `impp_e2e_${randomBytes(6).toString("hex")}`;
  const adminClient = new pg.Client({ connectionString: adminUrl });
  try {
    await adminClient.connect();
    await adminClient.query(`CREATE DATABASE ${dbName}`);
  } catch (e) {
    throw new ClusterError("SERVICE_UNREACHABLE", `PostgreSQL at ${adminUrl}: ${(e as Error).message}`);
  } finally {
    await adminClient.end().catch(() => {});
  }
  const databaseUrl = withDatabase(adminUrl, dbName);
  cleanup.push(async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
  });

  // One certificate for every edge, as an operator would deploy.
  const tls = await loadOrCreateTls({ dataDir, serverName: "127.0.0.1:0" });
  const tag = randomBytes(3).toString("hex");
  const shared = {
    ...BASE_ENV,
    IMPP_NATS_URL: natsUrl,
    IMPP_REDIS_URL: redisUrl,
    // Its own NATS subjects and Redis keys: runs sharing the services never see each other.
    IMPP_NATS_PREFIX: `e2e-${tag}`,
    IMPP_REDIS_PREFIX: `impp-${tag}:`,
    IMPP_DATABASE_URL: databaseUrl,
    IMPP_DATA_DIR: dataDir,
    IMPP_TLS_CERT: tls.certPath,
    IMPP_TLS_KEY: path.join(dataDir, "tls", "key.pem"),
    ...opts.env,
  };

  const servicesEnv = {
    ...shared,
    IMPP_ROLES: ROLES.filter((r) => r !== "edge").join(","),
    IMPP_EDGE_ID: `svc-${tag}`,
    IMPP_PORT: String(await freePort()),
  };
  const services = await spawnServer(servicesEnv, opts.verbose, opts.nodeArgs);
  cleanup.push(() => stopChild(services));

  const edges: EdgeEndpoint[] = [];
  const children: ChildProcess[] = [];
  const edgeEnvs: Record<string, string>[] = [];
  for (let i = 0; i < (opts.edges ?? 2); i++) {
    const edgeId = `edge-${tag}-${i}`;
    const edgeEnv = { ...shared, IMPP_ROLES: "edge", IMPP_EDGE_ID: edgeId };
    const { child, port } = await spawnOnFreePort(edgeEnv, opts);
    cleanup.push(() => stopChild(children[i]!));
    children.push(child);
    edgeEnvs.push({ ...edgeEnv, IMPP_PORT: String(port) });
    edges.push({ host: "127.0.0.1", port, pid: child.pid!, edgeId });
  }

  let store: Store | undefined;
  const admin = async () => {
    store ??= await openStore({ databaseUrl });
    return createAccountsAdmin(store);
  };
  cleanup.push(async () => store?.close());

  return {
    mode: "distributed",
    edges,
    pids: () => [services.pid!, ...children.map((c) => c.pid!)],
    addUser: async (name, password) => addWith(await admin(), name, password),
    killEdge: async (i, signal = "SIGKILL") => {
      const child = children[i];
      if (!child) throw new ClusterError("NOT_SUPPORTED", `no edge ${i}`);
      const exited = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      await exited;
    },
    killServices: async () => {
      const exited = new Promise((r) => services.once("exit", r));
      services.kill("SIGKILL");
      await exited;
    },
    restartEdge: async (i) => {
      const edgeEnv = edgeEnvs[i];
      if (!edgeEnv) throw new ClusterError("NOT_SUPPORTED", `no edge ${i}`);
      const child = await spawnServer(edgeEnv, opts.verbose, opts.nodeArgs);
      children[i] = child;
      edges[i]!.pid = child.pid!;
    },
    server: undefined,
    stop: run,
  };
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/**
 * Starts something on a port that was free a moment ago. Between freePort() and the bind another
 * socket of this machine may take the port (both come from the ephemeral range): then try another.
 */
async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<{ value: T; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { value: await start(port), port };
    } catch (e) {
      if (attempt >= 3 || !String((e as Error).message).includes("EADDRINUSE")) throw e;
    }
  }
}

async function spawnOnFreePort(
  env: Record<string, string>,
  opts: ClusterOptions,
): Promise<{ child: ChildProcess; port: number }> {
  const { value: child, port } = await onFreePort((p) =>
    spawnServer({ ...env, IMPP_PORT: String(p) }, opts.verbose, opts.nodeArgs),
  );
  return { child, port };
}

/** Spawns `impp serve` and resolves once it has printed its start-up banner. */
async function spawnServer(
  env: Record<string, string>,
  verbose = false,
  nodeArgs: string[] = [],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs, BIN, "serve"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new ClusterError(
          "START_FAILED",
          `impp serve (${env.IMPP_ROLES ?? "all"}) did not start in 30 s:\n${output}`,
        ),
      );
    }, 30_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (verbose) process.stderr.write(d);
      if (output.includes("impp: serving")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => {
      output += d.toString();
      if (verbose) process.stderr.write(d);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(
        new ClusterError(
          "START_FAILED",
          `impp serve (${env.IMPP_ROLES ?? "all"}) exited ${code}:\n${output}`,
        ),
      );
    });
  });
  // Keep draining its output so a chatty child never blocks on a full pipe.
  child.stdout!.removeAllListeners("data");
  child.stdout!.resume();
  if (verbose) child.stdout!.on("data", (d: Buffer) => process.stderr.write(d));
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}
