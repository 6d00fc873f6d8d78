import type { Tracer } from "@opentelemetry/api";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import type pino from "pino";
import type { Registry } from "prom-client";
import { TelemetryConfigError } from "./errors.js";
import { createLogger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { createTracing } from "./tracing.js";

export interface TelemetryOptions {
  readonly serviceName: string;
  /** A pino level or "silent". Default: IMPP_LOG_LEVEL, else "info". */
  readonly logLevel?: string;
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT semantics); traces are exported only when set. */
  readonly otlpEndpoint?: string;
  /** Where log lines go (tests). Default: stdout. */
  readonly logDestination?: NodeJS.WritableStream;
  /** Reuse metrics of another Telemetry in the same process (embedded mode). Wins over `registry`. */
  readonly metrics?: Metrics;
  /** Register the IMPP metrics in this registry (idempotent by name) instead of a fresh one. */
  readonly registry?: Registry;
  /**
   * Share of requests (root spans other than impp.session) whose traces are sampled; default 1.
   * Sessions are always sampled when exporting.
   */
  readonly traceMessageRatio?: number;
  /** Test hook: every ended span is handed synchronously to this exporter (e.g. InMemorySpanExporter). */
  readonly spanExporter?: SpanExporter;
}

export interface Telemetry {
  readonly serviceName: string;
  readonly logger: pino.Logger;
  readonly tracer: Tracer;
  readonly metrics: Metrics;
  /** Flushes and stops span export and flushes logs. Idempotent. */
  shutdown(): Promise<void>;
}

export function createTelemetry(opts: TelemetryOptions): Telemetry {
  if (typeof opts.serviceName !== "string" || opts.serviceName.trim() === "") {
    throw new TelemetryConfigError("invalid_service_name", "serviceName must be a non-empty string");
  }
  const logger = createLogger(
    opts.serviceName,
    opts.logLevel ?? process.env["IMPP_LOG_LEVEL"] ?? "info",
    opts.logDestination,
  );
  const metrics = opts.metrics ?? createMetrics(opts.registry);
  const tracing = createTracing({ ...opts, messageRatio: opts.traceMessageRatio });
  let stopping: Promise<void> | undefined;
  return {
    serviceName: opts.serviceName,
    logger,
    tracer: tracing.tracer,
    metrics,
    shutdown() {
      stopping ??= (async () => {
        try {
          await tracing.shutdown();
        } finally {
          await new Promise<void>((resolve) => logger.flush(() => resolve()));
        }
      })();
      return stopping;
    },
  };
}
