import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { TelemetryConfigError } from "./errors.js";

/**
 * The operator-facing metrics of an IMPP process. Label values must come from small closed sets
 * (family names, error codes, subject *patterns*) — never user ids or concrete subjects, or the registry
 * grows without bound.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Open client connections per edge listener. */
  readonly connections: Gauge<"edge">;
  /** IMPP_MAX_CONNECTIONS of each edge, so alerts and autoscalers can work with the fill ratio. */
  readonly connectionsLimit: Gauge<"edge">;
  /** Connections closed, by reason (client_close, idle_timeout, protocol_error, drain, limit, ...). */
  readonly connectionsClosed: Counter<"reason">;
  readonly framesIn: Counter<"family">;
  readonly framesOut: Counter<"family">;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  /** Request handling latency in seconds, per TLV family and the service that handled it. */
  readonly requestDuration: Histogram<"family" | "service">;
  /** Message delivery outcomes (online, offline, rejected, ...). */
  readonly deliveries: Counter<"result">;
  /** Error responses sent, by family and protocol error code. */
  readonly errors: Counter<"family" | "code">;
  readonly offlineStored: Counter;
  /** Offline messages handed to a client when it came back online. */
  readonly offlineDelivered: Counter;
  /** Bus message handlers that threw, by subject pattern (impp.req.<family>, impp.edge.*, impp.evt.<name>). */
  readonly busHandlerErrors: Counter<"subject">;
  /** Edge requests to a service that got no answer: no_responders, timeout, bad_reply, bus. */
  readonly busRequestFailures: Counter<"family" | "reason">;
  /** Redis connection errors after start (the client reconnects by itself). */
  readonly redisErrors: Counter;
  /** Authentication attempts by result (ok, bad_credentials, ...). */
  readonly authAttempts: Counter<"result">;
  /** Frames refused by flood control, per family. */
  readonly rateLimited: Counter<"family">;
  /** Estimated bytes held by connections that have not logged in (the edge refuses new ones past IMPP_PRELOGIN_MEMORY). */
  readonly preLoginMemory: Gauge<"edge">;
  /** Times a connection stopped being read because it (scope=connection) or its account (scope=account) used up its work allowance. */
  readonly throttled: Counter<"scope">;
}

export interface CreateMetricsOptions {
  /** Also collect prom-client's process metrics (CPU, memory, event loop lag, GC). Default true. */
  readonly processMetrics?: boolean;
}

// Generous low end: most requests are sub-millisecond in embedded mode.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface MetricSpec<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

function existing<M>(
  registry: Registry,
  name: string,
  kind: abstract new (...args: never[]) => M,
): M | undefined {
  const found = registry.getSingleMetric(name);
  if (found === undefined) return undefined;
  if (!(found instanceof kind)) {
    throw new TelemetryConfigError(
      "metric_conflict",
      `metric ${name} is already registered with another type`,
    );
  }
  return found;
}

/** Returns the counter registered under `spec.name`, creating it first if needed (idempotent by name). */
export function ensureCounter<L extends string = string>(
  registry: Registry,
  spec: MetricSpec<L>,
): Counter<L> {
  return (
    (existing(registry, spec.name, Counter) as Counter<L> | undefined) ??
    new Counter<L>({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [registry],
    })
  );
}

export function ensureGauge<L extends string = string>(registry: Registry, spec: MetricSpec<L>): Gauge<L> {
  return (
    (existing(registry, spec.name, Gauge) as Gauge<L> | undefined) ??
    new Gauge<L>({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [registry],
    })
  );
}

export function ensureHistogram<L extends string = string>(
  registry: Registry,
  spec: MetricSpec<L> & { readonly buckets?: readonly number[] },
): Histogram<L> {
  return (
    (existing(registry, spec.name, Histogram) as Histogram<L> | undefined) ??
    new Histogram<L>({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      buckets: [...(spec.buckets ?? LATENCY_BUCKETS)],
      registers: [registry],
    })
  );
}

/**
 * Creates (or, for a registry that already has them, looks up) the IMPP metrics. Services sharing one
 * process pass the same registry and get the same metric objects back.
 */
export function createMetrics(
  registry: Registry = new Registry(),
  options: CreateMetricsOptions = {},
): Metrics {
  // prom-client throws on a second collectDefaultMetrics for the same registry; probe one of its metrics.
  if (
    options.processMetrics !== false &&
    registry.getSingleMetric("process_cpu_user_seconds_total") === undefined
  ) {
    collectDefaultMetrics({ register: registry });
  }
  return {
    registry,
    connections: ensureGauge(registry, {
      name: "impp_connections",
      help: "Open client connections",
      labelNames: ["edge"],
    }),
    connectionsLimit: ensureGauge(registry, {
      name: "impp_connections_limit",
      help: "Client connections this edge accepts (IMPP_MAX_CONNECTIONS)",
      labelNames: ["edge"],
    }),
    connectionsClosed: ensureCounter(registry, {
      name: "impp_connections_closed_total",
      help: "Client connections closed, by reason",
      labelNames: ["reason"],
    }),
    framesIn: ensureCounter(registry, {
      name: "impp_frames_in_total",
      help: "Frames received from clients, by TLV family",
      labelNames: ["family"],
    }),
    framesOut: ensureCounter(registry, {
      name: "impp_frames_out_total",
      help: "Frames sent to clients, by TLV family",
      labelNames: ["family"],
    }),
    bytesIn: ensureCounter(registry, { name: "impp_bytes_in_total", help: "Bytes received from clients" }),
    bytesOut: ensureCounter(registry, { name: "impp_bytes_out_total", help: "Bytes sent to clients" }),
    requestDuration: ensureHistogram(registry, {
      name: "impp_request_duration_seconds",
      help: "Request handling latency, by TLV family and handling service",
      labelNames: ["family", "service"],
    }),
    deliveries: ensureCounter(registry, {
      name: "impp_deliveries_total",
      help: "Message deliveries, by result",
      labelNames: ["result"],
    }),
    errors: ensureCounter(registry, {
      name: "impp_errors_total",
      help: "Error responses, by TLV family and error code",
      labelNames: ["family", "code"],
    }),
    offlineStored: ensureCounter(registry, {
      name: "impp_offline_stored_total",
      help: "Messages stored for offline recipients",
    }),
    offlineDelivered: ensureCounter(registry, {
      name: "impp_offline_delivered_total",
      help: "Stored offline messages delivered when the recipient came online",
    }),
    busHandlerErrors: ensureCounter(registry, {
      name: "impp_bus_handler_errors_total",
      help: "Bus message handlers that failed, by subject pattern",
      labelNames: ["subject"],
    }),
    busRequestFailures: ensureCounter(registry, {
      name: "impp_bus_request_failures_total",
      help: "Edge requests that got no usable answer from a service over the bus, by family and reason",
      labelNames: ["family", "reason"],
    }),
    redisErrors: ensureCounter(registry, {
      name: "impp_redis_errors_total",
      help: "Redis connection errors reported by the client after start",
    }),
    authAttempts: ensureCounter(registry, {
      name: "impp_auth_attempts_total",
      help: "Authentication attempts, by result",
      labelNames: ["result"],
    }),
    rateLimited: ensureCounter(registry, {
      name: "impp_rate_limited_total",
      help: "Frames refused by flood control, by TLV family",
      labelNames: ["family"],
    }),
    preLoginMemory: ensureGauge(registry, {
      name: "impp_prelogin_memory_bytes",
      help: "Estimated bytes held by connections that have not logged in",
      labelNames: ["edge"],
    }),
    throttled: ensureCounter(registry, {
      name: "impp_throttled_total",
      help: "Connections paused for using up their work allowance, by scope (connection, account)",
      labelNames: ["scope"],
    }),
  };
}

/**
 * A subject as a label from a closed set: the request subject of a family, any edge's delivery
 * subject as one, an event's subject; anything else "other". A namespace prefix is dropped.
 */
export function subjectLabel(subject: string): string {
  const m = /(?:^|\.)impp\.(req|edge|evt|svc)\.([A-Za-z0-9_-]+)/.exec(subject);
  if (m === null) return "other";
  return m[1] === "edge" ? "impp.edge.*" : `impp.${m[1]}.${m[2]}`;
}
