// Starts a whole IMPP server for end-to-end tests and the benchmark, in one of
// four shapes: embedded in this process, embedded in a child process,
// distributed — services and N edges as separate processes on real NATS,
// Redis and a fresh PostgreSQL database — or image: the same topology as
// containers of the built image (deploy/scripts/test-image.sh). Real parts
// everywhere; nothing mocked.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type AccountsAdmin, createAccountsAdmin } from "@impp/auth";
import { BusError, connectNatsBus, subjects } from "@impp/bus";
import { ConfigError, loadConfig, ROLES } from "@impp/config";
import { loadOrCreateTls } from "@impp/edge";
import { Family } from "@impp/protocol";
import { openStore, type Store } from "@impp/store";
import pg from "pg";
import { remoteAdmin } from "../commands/user.js";
import { migrateModules, type ServerHandle, startServer } from "../runtime.js";
import {
  freePort,
  type InfraKind,
  type InfraProcess,
  startNats,
  startPostgres,
  startRedis,
} from "./infra.js";

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "bin.js");

export type ClusterMode = "embedded" | "embedded-process" | "distributed" | "image";

/** Services and every edge in processes of their own (killEdge, killServices, restartEdge work). */
export function isMultiProcess(mode: ClusterMode): boolean {
  return mode === "distributed" || mode === "image";
}

export interface ClusterOptions {
  mode: ClusterMode;
  /** Distributed and image: how many edge processes (default 2). */
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
  /**
   * Distributed: a command each edge process is started under (e.g. `unshare --pid --fork
   * --mount-proc` to run it as PID 1 in its own PID namespace); it runs in its own process group,
   * which killEdge signals as a whole.
   */
  edgeWrapper?: string[];
  /**
   * Distributed: the IMPP_EDGE_ID of every edge; `null` sets none, so each edge's prefix is the
   * host name (as containers sharing a host would). Default: a distinct prefix per edge.
   */
  edgePrefix?: string | null;
  /**
   * Fills the database before any server starts (benchmarks: many users and relations at once):
   * called with the migrated store — PGlite in the cluster's data folder, or the fresh Postgres
   * database — which is closed again before the servers open it.
   */
  seed?: (store: Store) => Promise<void>;
  /**
   * Distributed and image: run these of NATS, Redis and Postgres as the cluster's own processes
   * (temp folders, free ports; see infra.ts) instead of using the shared ones, so that kill() and
   * restart() can take them down. Takes precedence over natsUrl / redisUrl / adminDatabaseUrl.
   */
  ownInfra?: readonly InfraKind[];
  /** Image: the image to run (default: IMPP_TEST_IMAGE). */
  image?: string;
  /** Image: the docker client (default: IMPP_TEST_DOCKER, else `docker`). */
  docker?: string;
}

/** One process of a distributed cluster that a fault test can kill and restart. */
export type ClusterPart = "services" | InfraKind | { edge: number };

export const partName = (p: ClusterPart): string => (typeof p === "string" ? p : `edge ${p.edge}`);

async function seedWith(opts: ClusterOptions, open: () => Promise<Store>): Promise<void> {
  if (opts.seed === undefined) return;
  const store = await open();
  try {
    await migrateModules(store);
    await opts.seed(store);
  } finally {
    await store.close();
  }
}

export interface EdgeEndpoint {
  host: string;
  port: number;
  /** The process as this test sees it (with edgeWrapper: the wrapper). */
  pid: number;
  /** The pid the server reported for itself (1 in its own PID namespace). */
  ownPid: number;
  /** The id the edge runs under (from its start-up banner). */
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
  /**
   * Starts a killed edge process again with the same settings; edges[index] is updated (distributed:
   * on a new port; embedded-process: the whole server on its port and its PGlite folder).
   */
  restartEdge(index: number): Promise<EdgeEndpoint>;
  /**
   * SIGKILL the services process (auth, roster, presence, messaging); distributed only (image:
   * every backend container).
   */
  killServices(): Promise<void>;
  /**
   * SIGKILL (or another signal) one process of a distributed cluster: an edge, the services
   * process, or the cluster's own nats-server, redis-server or postgres (ownInfra). Resolves once
   * it is gone. Image: an edge's container, every backend container ("services"), or own infra.
   */
  kill(part: ClusterPart, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts a killed part again with the same settings: an edge on a new port (edges[i] updated),
   * the services process, or the own NATS/Redis/Postgres on the same port and folder (Redis comes
   * back empty: it keeps nothing on disk). Resolves once it is up.
   */
  restart(part: ClusterPart): Promise<void>;
  /** The cluster's own NATS/Redis/Postgres processes (ownInfra). */
  readonly infra: Partial<Record<InfraKind, InfraProcess>>;
  /**
   * Distributed and image: the name of the cluster's fresh Postgres database (benchmarks find its
   * backends by it).
   */
  readonly databaseName?: string;
  /** The in-process server (embedded mode only). */
  readonly server: ServerHandle | undefined;
  stop(): Promise<void>;
}

/** A cluster of containers (mode "image"). */
export interface ImageCluster extends Cluster {
  readonly mode: "image";
  readonly image: string;
  /** The names of the containers running now (services, then the edges). */
  containers(): string[];
  /**
   * Runs `impp <args>` in a one-off container of the image with the cluster's database, as an
   * operator would (`docker run --rm … impp user add alice`); `input` goes to its stdin.
   */
  impp(args: string[], input?: string): Promise<{ code: number; output: string }>;
  /** Runs a command in a running container (`docker exec`). */
  exec(container: string, command: string[]): Promise<{ code: number; output: string }>;
  /** `docker inspect --format <format>` of a container, trimmed. */
  inspect(container: string, format: string): Promise<string>;
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

export { freePort } from "./infra.js";

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
    if (!isMultiProcess(opts.mode)) await seedWith(opts, () => openStore({ dataDir }));
    if (opts.mode === "embedded") return await embeddedInProcess(opts, dataDir, run, cleanup);
    if (opts.mode === "embedded-process") return await embeddedChild(opts, dataDir, run, cleanup);
    if (opts.mode === "image") return await inContainers(opts, dataDir, run, cleanup);
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
    edges: [
      {
        host: "127.0.0.1",
        port: server.edge!.ports.plain,
        pid: process.pid,
        ownPid: process.pid,
        edgeId: server.edge!.edgeId,
      },
    ],
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
    kill: async () => {
      throw new ClusterError("NOT_SUPPORTED", "cannot kill the test's own process");
    },
    restart: async () => {
      throw new ClusterError("NOT_SUPPORTED", "cannot restart the test's own process");
    },
    infra: {},
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
  const edges: EdgeEndpoint[] = [{ host: "127.0.0.1", port, pid: child.pid!, ...started.banner }];
  const killEdge = async (_i: number, signal: NodeJS.Signals = "SIGKILL") => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await exited;
  };
  const restartEdge = async () => {
    const again = await spawnServer(env, opts.verbose, opts.nodeArgs);
    child = again.child;
    edges[0] = { host: "127.0.0.1", port, pid: child.pid!, ...again.banner };
    return edges[0]!;
  };
  const only = (part: ClusterPart) => {
    if (typeof part === "string" || part.edge !== 0)
      throw new ClusterError("NOT_SUPPORTED", `the embedded server has no separate ${partName(part)}`);
  };
  return {
    mode: "embedded-process",
    edges,
    pids: () => [child.pid!],
    // The server holds the embedded database: go through its admin endpoint, as `impp user` does.
    addUser: async (name, password) => addWith(await remoteAdmin(dataDir), name, password),
    killEdge,
    killServices: async () => {
      throw new ClusterError("NOT_SUPPORTED", "the embedded server runs its services in the edge's process");
    },
    restartEdge,
    kill: async (part, signal) => {
      only(part);
      await killEdge(0, signal);
    },
    restart: async (part) => {
      only(part);
      await restartEdge();
    },
    infra: {},
    server: undefined,
    stop: run,
  };
}

interface Backends {
  natsUrl: string;
  redisUrl: string;
  databaseUrl: string;
  /** The fresh database's name. */
  dbName: string;
  /** The cluster's own NATS/Redis/Postgres processes (ownInfra), stopped again by cleanup. */
  infra: Partial<Record<InfraKind, InfraProcess>>;
}

/**
 * The services' URLs — the cluster's own NATS/Redis/Postgres (ownInfra) where asked for, else the
 * shared ones — and a fresh database (dropped again by cleanup).
 */
async function backends(
  opts: ClusterOptions,
  cleanup: Array<() => Promise<void>>,
  dbPrefix = "impp_e2e_",
): Promise<Backends> {
  const infra: Partial<Record<InfraKind, InfraProcess>> = {};
  const own = new Set(opts.ownInfra ?? []);
  for (const [kind, start] of [
    ["nats", startNats],
    ["redis", startRedis],
    ["postgres", startPostgres],
  ] as const) {
    if (!own.has(kind)) continue;
    const p = await start();
    infra[kind] = p;
    cleanup.push(() => p.stop());
  }
  const natsUrl =
    infra.nats?.url ?? opts.natsUrl ?? process.env.IMPP_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
  const redisUrl =
    infra.redis?.url ?? opts.redisUrl ?? process.env.IMPP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
  const adminUrl =
    infra.postgres?.url ??
    opts.adminDatabaseUrl ??
    process.env.IMPP_TEST_DATABASE_URL ??
    "postgres://postgres@127.0.0.1:5432/postgres";

  // A fresh database per cluster: runs never see each other's accounts.
  const dbName = `${dbPrefix}${randomBytes(6).toString("hex")}`;
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
  return { natsUrl, redisUrl, databaseUrl, dbName, infra };
}

async function distributed(
  opts: ClusterOptions,
  dataDir: string,
  run: () => Promise<void>,
  cleanup: Array<() => Promise<void>>,
): Promise<Cluster> {
  const { natsUrl, redisUrl, databaseUrl, dbName, infra } = await backends(opts, cleanup);
  await seedWith(opts, () => openStore({ databaseUrl }));

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
  };
  let services!: ChildProcess;
  const startServices = async () => {
    const { child } = await spawnServer(
      { ...servicesEnv, IMPP_PORT: String(await freePort()) },
      opts.verbose,
      opts.nodeArgs,
    );
    services = child;
    cleanup.push(() => stopChild(child));
  };
  await startServices();

  const edges: EdgeEndpoint[] = [];
  const children: ChildProcess[] = [];
  const edgeEnv = (i: number): Record<string, string> => {
    const env: Record<string, string> = { ...shared, IMPP_ROLES: "edge" };
    const prefix = opts.edgePrefix === undefined ? `edge-${tag}-${i}` : opts.edgePrefix;
    if (prefix !== null) env.IMPP_EDGE_ID = prefix;
    return env;
  };
  const startEdgeProcess = async (i: number): Promise<EdgeEndpoint> => {
    const { child, port, banner } = await spawnOnFreePort(edgeEnv(i), opts, opts.edgeWrapper);
    cleanup.push(() => stopChild(child));
    children[i] = child;
    const endpoint = { host: "127.0.0.1", port, pid: child.pid!, ...banner };
    edges[i] = endpoint;
    return endpoint;
  };
  for (let i = 0; i < (opts.edges ?? 2); i++) await startEdgeProcess(i);

  let store: Store | undefined;
  const admin = async () => {
    store ??= await openStore({ databaseUrl });
    return createAccountsAdmin(store);
  };
  cleanup.push(async () => store?.close());

  const killEdge = async (i: number, signal: NodeJS.Signals = "SIGKILL") => {
    const child = children[i];
    if (!child) throw new ClusterError("NOT_SUPPORTED", `no edge ${i}`);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    // A wrapped edge is its own process group: the wrapper and the server go together.
    if (opts.edgeWrapper) process.kill(-child.pid!, signal);
    else child.kill(signal);
    await exited;
  };
  const killServices = async (signal: NodeJS.Signals = "SIGKILL") => {
    const child = services;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await exited;
    // The process is gone, but nats-server drops its subscriptions only once it has read the
    // closed socket: a request sent in between is routed to the dead subscriber and times out.
    // Tests that kill the services expect "no responders" from then on, so wait for NATS to say it.
    await untilNoResponders(natsUrl, shared.IMPP_NATS_PREFIX);
  };
  return {
    mode: "distributed",
    edges,
    pids: () => [services.pid!, ...children.map((c) => c.pid!)],
    addUser: async (name, password) => addWith(await admin(), name, password),
    killEdge,
    restartEdge: (i) => startEdgeProcess(i),
    killServices: () => killServices(),
    kill: async (part, signal) => {
      if (typeof part !== "string") await killEdge(part.edge, signal);
      else if (part === "services") await killServices(signal);
      else await ownProcess(infra, part).kill(signal);
    },
    restart: async (part) => {
      if (typeof part !== "string") await startEdgeProcess(part.edge);
      else if (part === "services") await startServices();
      else await ownProcess(infra, part).restart();
    },
    infra,
    databaseName: dbName,
    server: undefined,
    stop: run,
  };
}

/** Resolves once NATS answers a request to the IM family with "no responders" (bounded: 10 s). */
async function untilNoResponders(natsUrl: string, prefix: string | undefined): Promise<void> {
  const bus = await connectNatsBus({
    url: natsUrl,
    name: "cluster-probe",
    ...(prefix ? { subjectPrefix: prefix } : {}),
  });
  try {
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      try {
        await bus.request(subjects.request(Family.IM), new Uint8Array(0), { timeoutMs: 250 });
      } catch (e) {
        if (e instanceof BusError && e.kind === "NO_RESPONDERS") return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await bus.close();
  }
}

/** The cluster's own NATS, Redis or Postgres process; NOT_SUPPORTED for a shared one. */
function ownProcess(infra: Partial<Record<InfraKind, InfraProcess>>, kind: InfraKind): InfraProcess {
  const p = infra[kind];
  if (p === undefined)
    throw new ClusterError("NOT_SUPPORTED", `${kind} is shared, not the cluster's own (ownInfra)`);
  return p;
}

interface Container {
  name: string;
  child: ChildProcess;
  banner: Banner;
  port: number;
  /** The container's main process as the host sees it (docker-init, with --init). */
  pid: number;
}

/**
 * The compose topology (deploy/docker-compose.yml) as containers of the built image, on host
 * networking against the machine's NATS, Redis and a fresh PostgreSQL database: `impp migrate`
 * once, a `services` container with every backend role but avatar, an `avatar` container, and
 * the edges. Like compose, only migrate and the backends get IMPP_DATABASE_URL; each container
 * gets its own IMPP_HTTP_PORT, and is started once its /readyz answers 200. Every container is
 * labelled impp.test-run=<IMPP_TEST_RUN_ID>, so the calling script can remove leftovers.
 */
async function inContainers(
  opts: ClusterOptions,
  dataDir: string,
  run: () => Promise<void>,
  cleanup: Array<() => Promise<void>>,
): Promise<ImageCluster> {
  const image = opts.image ?? process.env.IMPP_TEST_IMAGE;
  if (!image)
    throw new ClusterError(
      "START_FAILED",
      "mode image needs an image: set IMPP_TEST_IMAGE (npm run test:image does)",
    );
  const docker = opts.docker ?? process.env.IMPP_TEST_DOCKER ?? "docker";
  const runId = process.env.IMPP_TEST_RUN_ID ?? "adhoc";
  if (!/^[0-9a-z]+$/.test(runId))
    throw new ClusterError("START_FAILED", `IMPP_TEST_RUN_ID ${runId}: [0-9a-z]+ only`);
  const { natsUrl, redisUrl, databaseUrl, dbName, infra } = await backends(
    opts,
    cleanup,
    `impp_img_${runId}_`,
  );
  await seedWith(opts, () => openStore({ databaseUrl }));

  // One certificate for every edge, mounted read-only where the Helm chart mounts it; readable by
  // the image's uid 1000 (a throwaway key).
  await loadOrCreateTls({ dataDir, serverName: "127.0.0.1:0" });
  const tlsDir = path.join(dataDir, "tls");
  await chmod(tlsDir, 0o755);
  for (const f of await readdir(tlsDir)) await chmod(path.join(tlsDir, f), 0o644);

  const tag = randomBytes(3).toString("hex");
  const labels = ["--label", `impp.test-run=${runId}`, "--label", `impp.test-cluster=${tag}`];
  let seq = 0;
  const nameOf = (role: string) => `impp-test-${runId}-${tag}-${role}-${++seq}`;
  const logLevel = { IMPP_LOG_LEVEL: BASE_ENV.IMPP_LOG_LEVEL! };
  const common: Record<string, string> = {
    ...logLevel,
    IMPP_HOST: "127.0.0.1",
    IMPP_NATS_URL: natsUrl,
    IMPP_REDIS_URL: redisUrl,
    // Its own NATS subjects and Redis keys: runs sharing the services never see each other.
    IMPP_NATS_PREFIX: `img-${tag}`,
    // The run id in it lets the calling script remove the keys afterwards.
    IMPP_REDIS_PREFIX: `impp-img-${runId}-${tag}:`,
    ...opts.env,
  };
  // Values travel in the docker client's environment (`-e NAME`), not on its command line.
  const runArgs = (name: string, env: Record<string, string>, extra: string[] = []) => [
    "run",
    "--rm",
    "--name",
    name,
    ...labels,
    "--network",
    "host",
    ...extra,
    ...Object.keys(env).flatMap((k) => ["-e", k]),
    image,
  ];

  const migrate = await collect(
    docker,
    [...runArgs(nameOf("migrate"), { ...logLevel, IMPP_DATABASE_URL: databaseUrl }), "migrate"],
    {
      ...logLevel,
      IMPP_DATABASE_URL: databaseUrl,
    },
  );
  if (migrate.code !== 0)
    throw new ClusterError(
      "START_FAILED",
      `impp migrate (${image}) exited ${migrate.code}:\n${migrate.output}`,
    );

  const startContainer = async (role: string, env: Record<string, string>, extra: string[] = []) => {
    const { value } = await onFreePort(async (port) => {
      const name = nameOf(role);
      const full = { ...env, IMPP_PORT: String(port), IMPP_HTTP_PORT: String(await freePort()) };
      try {
        const { child, banner } = await spawnUntilBanner(
          docker,
          [...runArgs(name, full, ["--init", ...extra]), "serve"],
          { ...process.env, ...full },
          `${env.IMPP_ROLES} in ${image}`,
          opts.verbose ?? false,
          false,
        );
        const c: Container = { name, child, banner, port, pid: 0 };
        cleanup.push(() => stopContainer(docker, c));
        await untilReady(Number(full.IMPP_HTTP_PORT), `${name} (${env.IMPP_ROLES})`);
        c.pid = Number((await collect(docker, ["inspect", "-f", "{{.State.Pid}}", name])).output.trim()) || 0;
        return c;
      } catch (e) {
        await collect(docker, ["rm", "-f", name]);
        throw e;
      }
    });
    return value;
  };

  const backendRoles = ROLES.filter((r) => r !== "edge");
  const withDb = { ...common, IMPP_DATABASE_URL: databaseUrl };
  const backendsRunning: Container[] = [];
  const startBackends = async () => {
    backendsRunning.length = 0;
    backendsRunning.push(
      await startContainer("services", {
        ...withDb,
        IMPP_ROLES: backendRoles.filter((r) => r !== "avatar").join(","),
      }),
    );
    if (backendRoles.includes("avatar"))
      backendsRunning.push(await startContainer("avatar", { ...withDb, IMPP_ROLES: "avatar" }));
  };
  await startBackends();

  const edges: EdgeEndpoint[] = [];
  const edgeContainers: Container[] = [];
  const startEdge = async (i: number): Promise<EdgeEndpoint> => {
    const env: Record<string, string> = {
      ...common,
      IMPP_ROLES: "edge",
      IMPP_TLS_CERT: "/etc/impp/tls/cert.pem",
      IMPP_TLS_KEY: "/etc/impp/tls/key.pem",
    };
    const prefix = opts.edgePrefix === undefined ? `edge-${tag}-${i}` : opts.edgePrefix;
    if (prefix !== null) env.IMPP_EDGE_ID = prefix;
    const c = await startContainer(`edge${i}`, env, ["-v", `${tlsDir}:/etc/impp/tls:ro`]);
    edgeContainers[i] = c;
    edges[i] = { host: "127.0.0.1", port: c.port, pid: c.pid, ...c.banner };
    return edges[i]!;
  };
  for (let i = 0; i < (opts.edges ?? 2); i++) await startEdge(i);

  let store: Store | undefined;
  const admin = async () => {
    store ??= await openStore({ databaseUrl });
    return createAccountsAdmin(store);
  };
  cleanup.push(async () => store?.close());

  const kill = async (c: Container | undefined, signal: NodeJS.Signals) => {
    if (!c) throw new ClusterError("NOT_SUPPORTED", "no such container");
    if (!running(c.child)) return;
    const exited = new Promise((r) => c.child.once("exit", r));
    await collect(docker, ["kill", "--signal", signal, c.name]);
    await exited;
  };
  // Every backend container: the edges have nothing left to route to.
  const killServices = async (signal: NodeJS.Signals = "SIGKILL") => {
    for (const c of backendsRunning) await kill(c, signal);
  };
  return {
    mode: "image",
    image,
    edges,
    pids: () => [...backendsRunning, ...edgeContainers].map((c) => c.pid),
    containers: () =>
      [...backendsRunning, ...edgeContainers].filter((c) => running(c.child)).map((c) => c.name),
    addUser: async (name, password) => addWith(await admin(), name, password),
    impp: async (args, input) => {
      const env = { ...logLevel, IMPP_DATABASE_URL: databaseUrl };
      const extra = input === undefined ? [] : ["--interactive"];
      return await collect(docker, [...runArgs(nameOf("cli"), env, extra), ...args], env, input);
    },
    exec: (container, command) => collect(docker, ["exec", container, ...command]),
    inspect: async (container, format) =>
      (await collect(docker, ["inspect", "--format", format, container])).output.trim(),
    killEdge: (i, signal = "SIGKILL") => kill(edgeContainers[i], signal),
    restartEdge: (i) => startEdge(i),
    killServices: () => killServices(),
    // "services" is every backend container (services and avatar), as in killServices.
    kill: async (part, signal = "SIGKILL") => {
      if (typeof part !== "string") await kill(edgeContainers[part.edge], signal);
      else if (part === "services") await killServices(signal);
      else await ownProcess(infra, part).kill(signal);
    },
    restart: async (part) => {
      if (typeof part !== "string") await startEdge(part.edge);
      else if (part === "services") await startBackends();
      else await ownProcess(infra, part).restart();
    },
    infra,
    databaseName: dbName,
    server: undefined,
    stop: run,
  };
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Runs a command to its end: exit code and stdout + stderr. */
async function collect(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<{ code: number; output: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.once("error", (e) => reject(new ClusterError("START_FAILED", `${cmd}: ${e.message}`)));
    child.once("close", (code) => resolve({ code: code ?? 1, output }));
    child.stdin.end(input ?? "");
  });
}

/** Polls /readyz until it answers 200 (dependencies reachable), as compose's health check does. */
async function untilReady(httpPort: number, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    last = await new Promise<string>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port: httpPort, path: "/readyz", timeout: 2000 }, (res) => {
        res.resume();
        resolve(String(res.statusCode));
      });
      req.once("timeout", () => req.destroy(new Error("timeout")));
      req.once("error", (e) => resolve(e.message));
    });
    if (last === "200") return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new ClusterError(
    "START_FAILED",
    `${what}: /readyz on port ${httpPort} not 200 within ${timeoutMs} ms (last: ${last})`,
  );
}

/** SIGINT (an edge drains), then after 5 s `docker rm -f`; resolves once `docker run` has exited. */
async function stopContainer(docker: string, c: Container): Promise<void> {
  if (!running(c.child)) return;
  const exited = new Promise<void>((r) => c.child.once("exit", () => r()));
  await collect(docker, ["kill", "--signal", "SIGINT", c.name]);
  const timer = setTimeout(() => void collect(docker, ["rm", "-f", c.name]), 5000);
  await exited;
  clearTimeout(timer);
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

interface Banner {
  edgeId: string;
  ownPid: number;
}

async function spawnOnFreePort(
  env: Record<string, string>,
  opts: ClusterOptions,
  wrapper?: string[],
): Promise<{ child: ChildProcess; port: number; banner: Banner }> {
  const { value, port } = await onFreePort((p) =>
    spawnServer({ ...env, IMPP_PORT: String(p) }, opts.verbose, opts.nodeArgs, wrapper),
  );
  return { child: value.child, port, banner: value.banner };
}

/** Spawns `impp serve` and resolves once it has printed its start-up banner. */
async function spawnServer(
  env: Record<string, string>,
  verbose = false,
  nodeArgs: string[] = [],
  wrapper: string[] = [],
): Promise<{ child: ChildProcess; banner: Banner }> {
  const argv = [process.execPath, ...nodeArgs, BIN, "serve"];
  const [cmd, ...args] = [...wrapper, ...argv];
  return await spawnUntilBanner(
    cmd!,
    args,
    { ...process.env, ...env },
    env.IMPP_ROLES,
    verbose,
    wrapper.length > 0,
  );
}

/** Spawns a command that runs `impp serve` and resolves once the server has printed its banner. */
async function spawnUntilBanner(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  roles: string | undefined,
  verbose: boolean,
  detached: boolean,
): Promise<{ child: ChildProcess; banner: Banner }> {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"], detached });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new ClusterError("START_FAILED", `impp serve (${roles ?? "all"}) did not start in 30 s:\n${output}`),
      );
    }, 30_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (verbose) process.stderr.write(d);
      if (output.includes("Stop with Ctrl-C")) {
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
      reject(new ClusterError("START_FAILED", `impp serve (${roles ?? "all"}) exited ${code}:\n${output}`));
    });
  });
  // Keep draining its output so a chatty child never blocks on a full pipe.
  child.stdout!.removeAllListeners("data");
  child.stdout!.resume();
  if (verbose) child.stdout!.on("data", (d: Buffer) => process.stderr.write(d));
  const ownPid = Number(/\(pid (\d+)\)/.exec(output)?.[1] ?? child.pid);
  const edgeId = /edge id: (\S+)/.exec(output)?.[1] ?? "";
  return { child, banner: { edgeId, ownPid } };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  // A detached child (under a wrapper) leads its own process group: signal all of it.
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (child.spawnargs[0] !== process.execPath) process.kill(-child.pid!, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  signal("SIGINT");
  const timer = setTimeout(() => signal("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}
