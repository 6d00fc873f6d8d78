import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { adminRoutes, createAccountsAdmin } from "@impp/auth";
import { type Bus, connectNatsBus, createMemoryBus } from "@impp/bus";
import type { Config } from "@impp/config";
import type { EdgeHandle, EdgeState, TlsMaterial } from "@impp/edge";
import {
  type AnyModule,
  type ModuleContext,
  type ServedModule,
  selectModules,
  startModule,
  withDependencies,
} from "@impp/service-kit";
import { connectRedisSessionStore, createMemorySessionStore, type SessionStore } from "@impp/sessions";
import { type MigrationReport, openStore, type Store } from "@impp/store";
import {
  createTelemetry,
  type HealthServer,
  RepeatLimiter,
  startHealthServer,
  subjectLabel,
  type Telemetry,
} from "@impp/telemetry";
import { ADMIN_FILE, type AdminEndpoint } from "./admin-endpoint.js";
import { modules } from "./modules.js";
import { userDetails } from "./user-details.js";

export { ADMIN_FILE, type AdminEndpoint } from "./admin-endpoint.js";

export interface ServerHandle {
  readonly config: Config;
  readonly edge: EdgeHandle | undefined;
  readonly telemetry: Telemetry;
  readonly bus: Bus;
  readonly sessions: SessionStore;
  readonly store: Store | undefined;
  readonly tls: TlsMaterial | undefined;
  readonly http: HealthServer | undefined;
  /** The local admin endpoint, when this process holds an embedded database. */
  readonly admin: AdminEndpoint | undefined;
  /** Drain the edge (if any) for the grace period, then stop everything. */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

/** Opens the durable store the config names: Postgres, or PGlite in the data folder. */
export function openConfiguredStore(
  config: Pick<Config, "databaseUrl" | "dataDir" | "pgliteSharedBuffersMb">,
  lock: { waitMs?: number; onWait?: (holderPid: number | undefined) => void } = {},
): Promise<Store> {
  return config.databaseUrl
    ? openStore({ databaseUrl: config.databaseUrl })
    : openStore({
        dataDir: config.dataDir,
        sharedBuffersMb: config.pgliteSharedBuffersMb,
        lockWaitMs: lock.waitMs ?? 0,
        ...(lock.onWait ? { onLockWait: lock.onWait } : {}),
      });
}

/**
 * Brings the tables of `selected` up to date, each module's set in its own table, in dependency
 * order (a module's tables after those of the modules it builds on).
 */
export async function migrateModules(
  store: Store,
  selected: readonly AnyModule[] = modules,
): Promise<Array<{ role: string; report: MigrationReport }>> {
  const out: Array<{ role: string; report: MigrationReport }> = [];
  for (const m of selected) {
    if (m.migrations !== undefined) out.push({ role: m.role, report: await store.migrate(m.migrations) });
  }
  return out;
}

/**
 * Composes the modules named in config.roles in this process (from the one list in modules.ts), on
 * embedded parts or on NATS/Redis/Postgres as the config says. Start order: shared parts, then the
 * modules in dependency order with the edge last — so the first client finds its services there.
 */
export async function startServer(
  config: Config,
  opts: { logDestination?: NodeJS.WritableStream } = {},
): Promise<ServerHandle> {
  const selected = selectModules(modules, config.roles);
  // The edge starts last: it is what lets clients in.
  selected.sort((a, b) => Number(a.role === "edge") - Number(b.role === "edge"));
  const roles = selected.map((m) => m.role);
  const telemetry = createTelemetry({
    serviceName: `impp-${[...roles].sort().join("-")}`,
    logLevel: config.logLevel,
    // Logs on stderr: stdout carries what the commands say to a person (serve's banner).
    logDestination: opts.logDestination ?? process.stderr,
    ...(config.otlpEndpoint ? { otlpEndpoint: config.otlpEndpoint } : {}),
    traceMessageRatio: config.traceMessageRatio,
  });
  const log = telemetry.logger;
  for (const w of config.warnings) log.warn({ variable: w.variable }, w.problem);

  // Run in reverse on stop: telemetry, registered first, shuts down (and flushes) last.
  const cleanup: Array<() => Promise<void>> = [() => telemetry.shutdown()];
  const stopAll = async () => {
    for (const fn of cleanup.reverse()) {
      try {
        await fn();
      } catch (err) {
        log.error({ err }, "error while stopping");
      }
    }
    cleanup.length = 0;
  };

  // Bus handler failures and Redis connection errors: counted (the dashboards' bus and Redis
  // panels), logged at most IMPP_LOG_REPEATS_PER_MINUTE times a minute per kind (a Redis outage
  // reports an error on every reconnect attempt).
  const limited = new RepeatLimiter(log, { perWindow: config.logRepeatsPerMinute });
  cleanup.push(async () => limited.close());
  const onHandlerError = (err: unknown, subject: string) => {
    const label = subjectLabel(subject);
    telemetry.metrics.busHandlerErrors.inc({ subject: label });
    limited.log("error", `bus-handler:${label}`, { err, subject }, "bus message handler failed");
  };
  const onRedisError = (err: Error) => {
    telemetry.metrics.redisErrors.inc();
    limited.log("warn", "redis-error", { err: err.message }, "Redis connection error");
  };

  try {
    const bus = config.natsUrl
      ? await connectNatsBus({
          url: config.natsUrl,
          name: config.edgeId,
          onHandlerError,
          ...(config.natsAuth ? { auth: config.natsAuth } : {}),
          ...(config.natsCaFile ? { tls: { caFile: config.natsCaFile } } : {}),
          ...(config.natsPrefix ? { subjectPrefix: config.natsPrefix } : {}),
        })
      : createMemoryBus({ onHandlerError });
    cleanup.push(() => bus.close());

    const sessions = config.redisUrl
      ? await connectRedisSessionStore({
          url: config.redisUrl,
          keyPrefix: config.redisPrefix,
          onError: onRedisError,
          ...(config.redisCaFile ? { tlsCaFile: config.redisCaFile } : {}),
        })
      : createMemorySessionStore();
    cleanup.push(() => sessions.close());

    // A module that needs the store gets it, whatever other roles run here.
    let store: Store | undefined;
    if (selected.some((m) => m.needs?.store === true)) {
      // A CLI command (impp user) may hold the embedded database for a moment: wait for it, bounded.
      const opened = await openConfiguredStore(config, {
        waitMs: config.dataDirLockWaitMs,
        onWait: (pid) =>
          log.info(
            { holderPid: pid, waitMs: config.dataDirLockWaitMs },
            "the embedded database is held by another process: waiting for it",
          ),
      });
      store = opened;
      cleanup.push(() => opened.close());
      // The tables of the modules run here and of those they build on (foreign keys).
      for (const { role, report } of await migrateModules(opened, withDependencies(modules, selected))) {
        if (report.applied.length > 0)
          log.info({ module: role, applied: report.applied }, "database migrated");
      }
    }

    const ctx: ModuleContext = { bus, sessions, store, config, telemetry };
    const served: ServedModule<unknown>[] = [];
    for (const m of selected) {
      const s = await startModule(m, ctx);
      served.push(s);
      cleanup.push(() => s.stop());
    }
    const edgeState = served.find((s) => s.module.role === "edge")?.started.state as EdgeState | undefined;
    const edge = edgeState?.edge;
    const tls = edgeState?.tls;

    let http: HealthServer | undefined;
    if (config.httpPort !== 0) {
      http = await startHealthServer({
        port: config.httpPort,
        host: config.host,
        registry: telemetry.metrics.registry,
        // Ready: not draining, and the live and durable state answer (a failed ping throws: 503).
        ready: async () => {
          if (served.some((s) => s.started.ready?.() === false)) return false;
          await sessions.ping();
          return store ? await store.ping() : true;
        },
      });
      const h = http;
      cleanup.push(() => h.close());
    }

    // Embedded Postgres allows one process: while we hold it, `impp user` goes
    // through this loopback-only endpoint, authorised by a token in the data folder.
    let admin: AdminEndpoint | undefined;
    if (store && store.kind === "pglite" && roles.includes("auth")) {
      const token = randomBytes(24).toString("base64url");
      const server = await startHealthServer({
        port: 0,
        host: "127.0.0.1",
        registry: telemetry.metrics.registry,
        ready: () => true,
        routes: adminRoutes(
          {
            ...createAccountsAdmin(store, { domain: config.domain }),
            show: (name) => userDetails(store!, sessions, name, config.domain),
          },
          token,
        ),
      });
      admin = { url: `http://127.0.0.1:${server.port}`, token, pid: process.pid };
      const file = path.join(config.dataDir, ADMIN_FILE);
      await mkdir(config.dataDir, { recursive: true });
      await writeFile(file, JSON.stringify(admin), { mode: 0o600 });
      cleanup.push(async () => {
        await rm(file, { force: true });
        await server.close();
      });
    }

    let stopped: Promise<void> | undefined;
    const stop = () => {
      stopped ??= stopAll();
      return stopped;
    };
    return {
      config,
      edge,
      telemetry,
      bus,
      sessions,
      store,
      tls,
      http,
      admin,
      async drain() {
        for (const s of served) await s.started.drain?.();
        await stop();
      },
      stop,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
