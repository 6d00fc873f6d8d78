// startEdge: wires listeners, connections, the delivery subscription, liveness, the sweeper and
// drain together. Everything per connection lives in connection.ts; this file holds what is per edge.
import type net from "node:net";
import tls from "node:tls";
import { type Bus, type Subscription, serveDeliveries } from "@impp/bus";
import type { Config } from "@impp/config";
import { deliveryTimeout, publishEvent } from "@impp/service-kit";
import type { SessionStore } from "@impp/sessions";
import {
  extractContext,
  isTracing,
  RepeatLimiter,
  SESSION_SPAN,
  type Span,
  SpanKind,
  type Telemetry,
} from "@impp/telemetry";
import { Connection, type ConnectionHost, PRELOGIN_BASE_COST } from "./connection.js";
import { EdgeCounters } from "./counters.js";
import { AccountIndex, type DeliveryTarget, serveDelivery, type TargetLookup } from "./delivery.js";
import { drainNotice, graceWait } from "./drain.js";
import { deviceGoneEvent, deviceRestoredEvent } from "./events.js";
import { AccountBuckets, Turns } from "./fairness.js";
import { createFrameLog } from "./frame-log.js";
import { retireEarlierIncarnations } from "./incarnations.js";
import { type Listener, listen, refuse } from "./listener.js";
import { restoreDevices } from "./restore.js";
import { Router } from "./router.js";
import { CloseReason, Sweeper, sweepIntervalMs } from "./sweeper.js";

/** A session is its own trace: never the child of whatever context was active at accept. */
const ROOT = extractContext(undefined);

/**
 * The connection count at which an edge stops being ready (IMPP_READY_MAX_CONNECTIONS_PERCENT of
 * IMPP_MAX_CONNECTIONS, at least 1): above it /readyz answers 503, so the load balancer sends new
 * connections elsewhere while this edge keeps serving the ones it has.
 */
export function readyConnectionLimit(maxConnections: number, percent: number): number {
  return Math.max(1, Math.floor((maxConnections * percent) / 100));
}

/** The delivery span links to the impp.session of every connection the delivery looked at. */
function linkingLookup(index: AccountIndex<Connection>, span: Span): TargetLookup<DeliveryTarget> {
  return {
    get(account) {
      const conns = index.get(account);
      if (conns !== undefined) for (const c of conns) span.addLink({ context: c.session.spanContext() });
      return conns;
    },
  };
}

export interface EdgeDeps {
  config: Config;
  bus: Bus;
  sessions: SessionStore;
  telemetry: Telemetry;
  tls: { key: string | Buffer; cert: string | Buffer };
}

export interface EdgeHandle {
  readonly edgeId: string;
  /** Actual ports (config port 0 = ephemeral, for tests). */
  readonly ports: { plain: number; tls: number | undefined };
  readonly connectionCount: number;
  /** Requests queued or in flight over all connections (diagnostics; walks every connection). */
  queuedRequests(): number;
  /** False while draining or stopped, or at IMPP_READY_MAX_CONNECTIONS_PERCENT of the limit (for /readyz). */
  ready(): boolean;
  /** SIGTERM path: stop accepting, tell bound clients to go elsewhere, close the rest after config.limits.drainGraceMs. */
  drain(): Promise<void>;
  /** Immediate: close everything, unsubscribe, removeEdge. Idempotent. */
  stop(): Promise<void>;
}

export async function startEdge(deps: EdgeDeps): Promise<EdgeHandle> {
  const { config, bus, sessions, telemetry } = deps;
  const edgeId = config.edgeId;
  const limits = config.limits;
  const logger = telemetry.logger.child({ component: "edge", edge: edgeId });
  const counters = new EdgeCounters(telemetry.metrics, edgeId);
  telemetry.metrics.connectionsLimit.set({ edge: edgeId }, limits.maxConnections);
  const limited = new RepeatLimiter(logger, { perWindow: config.logRepeatsPerMinute });
  // Checked once: above trace, no connection builds anything for the frame log.
  const frameLog = createFrameLog(logger, { bodies: config.logBodies, maxBlockSize: limits.maxBlockSize });
  const connections = new Set<Connection>();
  const index = new AccountIndex<Connection>();
  // A per-start prefix keeps connection ids unique across restarts of an edge with the same id, so a
  // late device-gone of an old connection can never remove a newer device (SessionStore checks connId).
  const idPrefix = Date.now().toString(36);
  let nextConn = 0;
  let draining = false;
  let stopped = false;
  let drainWaiter: { notify(): void } | undefined;
  // Estimated bytes held by connections that have not logged in (issue #11: 4,000 sockets each
  // holding most of a block before TLS pinned 750 MB). Past the budget, new connections are refused.
  let preLoginBytes = 0;
  const preLoginGauge = telemetry.metrics.preLoginMemory.labels(edgeId);
  const readyLimit = readyConnectionLimit(limits.maxConnections, limits.readyMaxConnectionsPercent);

  const publishGone = (
    account: string,
    device: string,
    connId: string,
    reason: CloseReason,
    traceId?: string,
  ): void => {
    try {
      publishEvent(bus, deviceGoneEvent, { account, device, connId, edgeId, reason });
    } catch (e) {
      logger.warn(
        { err: (e as Error).message, conn: connId, trace_id: traceId, account, device },
        "could not publish device-gone",
      );
    }
  };

  const host: ConnectionHost = {
    maxBlockSize: limits.maxBlockSize,
    preLoginMaxBlock: limits.preLoginMaxBlock,
    maxTlvsPerBlock: limits.maxTlvsPerBlock,
    versionTimeoutMs: limits.versionTimeoutMs,
    featuresTimeoutMs: limits.featuresTimeoutMs,
    loginTimeoutMs: limits.loginTimeoutMs,
    connectionWorkRate: limits.connectionWorkRate,
    accountBuckets: new AccountBuckets(limits.accountWorkRate, 4 * limits.maxBlockSize),
    turns: new Turns(),
    preLoginMemory(delta) {
      preLoginBytes += delta;
      preLoginGauge.set(preLoginBytes);
    },
    maxOutputBuffer: limits.maxOutputBuffer,
    tlsHandshakeTimeoutMs: limits.tlsHandshakeTimeoutMs,
    compressionAllowed: config.compression,
    secureContext: tls.createSecureContext({ key: deps.tls.key, cert: deps.tls.cert }),
    router: new Router({
      bus,
      tracer: telemetry.tracer,
      metrics: telemetry.metrics,
      edgeId,
      serverName: config.serverName,
      timeoutMs: limits.requestTimeoutMs,
    }),
    logger,
    frameLog,
    limited,
    counters,
    startSession(conn, tlsFirst) {
      return telemetry.tracer.startSpan(
        SESSION_SPAN,
        {
          kind: SpanKind.SERVER,
          attributes: {
            "impp.conn": conn.id,
            "impp.edge": edgeId,
            "client.address": conn.remoteAddress,
            "impp.tls_first": tlsFirst,
          },
        },
        ROOT,
      );
    },
    bound(conn) {
      index.add(conn.account, conn);
    },
    unbound(conn) {
      index.remove(conn.account, conn);
    },
    closed(conn, reason) {
      connections.delete(conn);
      counters.closed(reason);
      if (conn.device !== "") {
        index.remove(conn.account, conn);
        publishGone(conn.account, conn.device, conn.id, reason, conn.traceId);
      }
      drainWaiter?.notify();
    },
    orphanDevice: publishGone,
  };

  const accept = (tlsFirst: boolean) => (socket: net.Socket) => {
    try {
      const memoryFull = preLoginBytes + PRELOGIN_BASE_COST > limits.preLoginMemory;
      if (draining || stopped || connections.size >= limits.maxConnections || memoryFull) {
        const reason = draining || stopped ? "draining" : memoryFull ? "prelogin_memory" : "max_connections";
        counters.refused(reason === "prelogin_memory" ? "prelogin_memory" : "limit");
        limited.log(
          "info",
          `connection-refused:${reason}`,
          {
            remoteAddress: socket.remoteAddress,
            reason,
            connections: connections.size,
            max: limits.maxConnections,
            preLoginBytes,
          },
          "connection refused",
        );
        refuse(socket, !tlsFirst);
        return;
      }
      const conn = new Connection(host, socket, `${idPrefix}-${(nextConn++).toString(36)}`, tlsFirst);
      connections.add(conn);
      counters.opened();
    } catch (e) {
      logger.error({ err: e }, "accepting a connection failed");
      socket.destroy();
    }
  };

  // A delivery is acked once the kernel took it; a connection that cannot take it within half of
  // what the sending service waits for the ack is cut off as a slow reader (architecture.md).
  const flushTimeoutMs = Math.max(25, Math.floor(deliveryTimeout(config) / 2));
  // A span per delivery, child of the sending service's span: one trace covers edge → service → edge.
  // Subscribed before the first heartbeat: an edge that is registered answers on its subject, so a
  // starting sibling's probe (incarnations.ts) never mistakes it for a dead one.
  const tracing = isTracing(telemetry.tracer);
  const onBad = (reason: string) => {
    logger.warn({ reason }, "bad delivery");
  };
  const deliveries: Subscription = serveDeliveries(
    bus,
    edgeId,
    (env, headers) => {
      // Nothing exports spans: no span per delivery either (#13).
      if (!tracing) return serveDelivery(env, index, onBad, flushTimeoutMs);
      const span = telemetry.tracer.startSpan(
        "impp.edge.deliver",
        { kind: SpanKind.CONSUMER },
        extractContext(headers),
      );
      const delivered = serveDelivery(
        env,
        // Links only when the span records: an unsampled delivery builds nothing per connection.
        span.isRecording() ? linkingLookup(index, span) : (index as AccountIndex<DeliveryTarget>),
        onBad,
        flushTimeoutMs,
      );
      const done = (n: number): number => {
        span.setAttribute("impp.delivered", n);
        span.end();
        return n;
      };
      return typeof delivered === "number" ? done(delivered) : delivered.then(done);
    },
    {
      onUndecodable: (err) => logger.warn({ reason: err.message }, "bad delivery"),
      onError: (err) => logger.error({ err }, "delivery failed"),
    },
  );

  // Edges must heartbeat before any device is bound on them.
  try {
    await sessions.heartbeatEdge(edgeId, config.heartbeat.ttlMs);
  } catch (e) {
    deliveries.unsubscribe();
    throw e;
  }
  // A heartbeat that finds the edge unregistered means the store lost it (Redis restarted empty, or
  // this edge was swept as dead): its devices are gone too, and are put back (restore.ts). A restore
  // that could not finish runs again on the next heartbeat.
  let restoring: Promise<void> | undefined;
  let restoreAgain = false;
  const restore = () => {
    restoring ??= (async () => {
      const started = performance.now();
      const report = await restoreDevices({
        sessions,
        edgeId,
        logger,
        metrics: telemetry.metrics,
        bound: () => connections,
        evict: (c) => c.close(CloseReason.SERVER_CLOSE),
        gone: (account, device, connId) => publishGone(account, device, connId, CloseReason.SERVER_CLOSE),
        restored: (account, device, connId) => {
          try {
            publishEvent(bus, deviceRestoredEvent, { account, device, connId, edgeId });
          } catch (e) {
            logger.warn({ err: (e as Error).message, account, device }, "could not publish device-restored");
          }
        },
      });
      restoreAgain = report.failed > 0;
      logger.warn(
        { ...report, ms: Math.round(performance.now() - started) },
        "edge was no longer registered in the live state: bound devices registered again",
      );
    })()
      .catch((e: unknown) => logger.error({ err: e }, "restoring devices failed"))
      .finally(() => {
        restoring = undefined;
      });
  };
  const heartbeat = setInterval(() => {
    sessions.heartbeatEdge(edgeId, config.heartbeat.ttlMs).then(
      (registered) => {
        if ((!registered || restoreAgain) && !stopped) restore();
      },
      (e: unknown) => {
        logger.warn({ err: (e as Error).message }, "edge heartbeat failed");
      },
    );
  }, config.heartbeat.intervalMs);
  heartbeat.unref();

  // Ghost devices of an earlier incarnation (killed, restarted within the TTL) go now, not after it.
  try {
    await retireEarlierIncarnations({
      bus,
      sessions,
      edgeId,
      prefix: config.edgePrefix,
      timeoutMs: Math.min(limits.requestTimeoutMs, 2000),
      logger,
    });
  } catch (e) {
    logger.warn({ err: (e as Error).message }, "could not check for earlier incarnations of this edge");
  }

  const sweeper = new Sweeper(
    connections,
    limits,
    sweepIntervalMs(
      limits.idleTimeoutMs,
      limits.tlsHandshakeTimeoutMs,
      limits.versionTimeoutMs,
      limits.featuresTimeoutMs,
      limits.loginTimeoutMs,
    ),
  );
  sweeper.start();

  const listeners: Listener[] = [];
  let plain: Listener;
  let tlsListener: Listener | undefined;
  try {
    plain = await listen(config.host, config.port, accept(false));
    listeners.push(plain);
    if (config.tlsPort !== undefined) {
      tlsListener = await listen(config.host, config.tlsPort, accept(true));
      listeners.push(tlsListener);
    }
  } catch (e) {
    for (const l of listeners) await l.close();
    clearInterval(heartbeat);
    sweeper.stop();
    deliveries.unsubscribe();
    throw e;
  }
  const ports = { plain: plain.port, tls: tlsListener?.port };
  logger.info({ ports, serverName: config.serverName, edgePrefix: config.edgePrefix }, "edge listening");

  let draining$: Promise<void> | undefined;
  let stopping$: Promise<void> | undefined;

  const closeListeners = async () => {
    for (const l of listeners) await l.close();
  };

  return {
    edgeId,
    ports,
    get connectionCount() {
      return connections.size;
    },
    queuedRequests() {
      let n = 0;
      for (const c of connections) n += c.queued;
      return n;
    },
    // Not ready near the connection limit: new connections go to other edges (the HPA adds some).
    ready: () => !draining && !stopped && connections.size < readyLimit,
    drain() {
      draining$ ??= (async () => {
        draining = true;
        await closeListeners();
        const notice = drainNotice(config.drainRedirect ?? config.serverName);
        let told = 0;
        for (const c of connections) {
          if (c.device !== "" && c.sendRaw(notice)) told++;
        }
        logger.info({ told, connections: connections.size, graceMs: limits.drainGraceMs }, "edge draining");
        const wait = graceWait(limits.drainGraceMs, () => connections.size === 0);
        drainWaiter = wait;
        await wait.done;
        for (const c of [...connections]) c.close(CloseReason.DRAIN);
      })();
      return draining$;
    },
    stop() {
      stopping$ ??= (async () => {
        stopped = true;
        clearInterval(heartbeat);
        await restoring;
        sweeper.stop();
        deliveries.unsubscribe();
        await closeListeners();
        for (const c of [...connections]) c.close(CloseReason.SHUTDOWN);
        try {
          await sessions.removeEdge(edgeId);
        } catch (e) {
          logger.warn({ err: (e as Error).message }, "removeEdge failed");
        }
        limited.close();
        logger.info("edge stopped");
      })();
      return stopping$;
    },
  };
}
