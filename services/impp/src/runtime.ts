import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { adminRoutes, createAccountsAdmin, start as startAuth } from "@impp/auth";
import { type Bus, connectNatsBus, createMemoryBus } from "@impp/bus";
import type { Config, Role } from "@impp/config";
import { type EdgeHandle, startEdge } from "@impp/edge";
import { start as startMessaging } from "@impp/messaging";
import { start as startPresence } from "@impp/presence";
import { connectRedisSessionStore, createMemorySessionStore, type SessionStore } from "@impp/sessions";
import { openStore, type Store } from "@impp/store";
import { createTelemetry, type HealthServer, startHealthServer, type Telemetry } from "@impp/telemetry";
import { loadOrCreateTls, type TlsMaterial } from "./tls.js";

/** Where `impp user` finds a running embedded server's local admin endpoint. */
export const ADMIN_FILE = "admin.json";

export interface AdminEndpoint {
  url: string;
  token: string;
  pid: number;
}

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

interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Composes the roles named in config.roles in this process, on embedded parts
 * or on NATS/Redis/Postgres as the config says. Start order: shared parts,
 * services, then the edge — so the first client finds its services there.
 */
export async function startServer(config: Config): Promise<ServerHandle> {
  const roles = new Set<Role>(config.roles);
  const telemetry = createTelemetry({
    serviceName: `impp-${[...roles].sort().join("-")}`,
    logLevel: config.logLevel,
    // Logs on stderr: stdout carries what the commands say to a person (serve's banner).
    logDestination: process.stderr,
    ...(config.otlpEndpoint ? { otlpEndpoint: config.otlpEndpoint } : {}),
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

  try {
    const bus = config.natsUrl
      ? await connectNatsBus({
          url: config.natsUrl,
          name: config.edgeId,
          ...(config.natsPrefix ? { subjectPrefix: config.natsPrefix } : {}),
        })
      : createMemoryBus();
    cleanup.push(() => bus.close());

    const sessions = config.redisUrl
      ? await connectRedisSessionStore({ url: config.redisUrl, keyPrefix: config.redisPrefix })
      : createMemorySessionStore();
    cleanup.push(() => sessions.close());

    let store: Store | undefined;
    if (roles.has("auth")) {
      store = config.databaseUrl
        ? await openStore({ databaseUrl: config.databaseUrl })
        : await openStore({ dataDir: config.dataDir });
      const s = store;
      cleanup.push(() => s.close());
      const report = await store.migrate();
      if (report.applied.length > 0) log.info({ applied: report.applied }, "database migrated");
    }

    const services: Stoppable[] = [];
    if (store && roles.has("auth")) {
      services.push(await startAuth({ bus, store, sessions, config, telemetry }));
    }
    if (roles.has("presence")) services.push(await startPresence({ bus, sessions, config, telemetry }));
    if (roles.has("messaging")) services.push(await startMessaging({ bus, sessions, config, telemetry }));
    for (const s of services) cleanup.push(() => s.stop());

    let tls: TlsMaterial | undefined;
    let edge: EdgeHandle | undefined;
    if (roles.has("edge")) {
      tls = await loadOrCreateTls({
        certFile: config.tlsCert,
        keyFile: config.tlsKey,
        dataDir: config.dataDir,
        serverName: config.serverName,
      });
      edge = await startEdge({ config, bus, sessions, telemetry, tls: { key: tls.key, cert: tls.cert } });
      const e = edge;
      cleanup.push(() => e.stop());
    }

    let http: HealthServer | undefined;
    if (config.httpPort !== 0) {
      http = await startHealthServer({
        port: config.httpPort,
        host: config.host,
        registry: telemetry.metrics.registry,
        // Ready: not draining, and the live and durable state answer (a failed ping throws: 503).
        ready: async () => {
          if (edge && !edge.ready()) return false;
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
    if (store && store.kind === "pglite") {
      const token = randomBytes(24).toString("base64url");
      const server = await startHealthServer({
        port: 0,
        host: "127.0.0.1",
        registry: telemetry.metrics.registry,
        ready: () => true,
        routes: adminRoutes(createAccountsAdmin(store, { domain: config.domain }), token),
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
        if (edge) await edge.drain();
        await stop();
      },
      stop,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
