export type { Attributes, Context, Link, Span, SpanContext, Tracer } from "@opentelemetry/api";
export { SpanKind, SpanStatusCode } from "@opentelemetry/api";
// For tests that assert on spans (one trace across processes): collect them in memory.
export { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
export type { Logger } from "pino";
export { Registry } from "prom-client";
export { extractContext, injectContext, NO_SPAN, traceHeaders, withLinkedSpan, withSpan } from "./context.js";
export { HealthServerError, TelemetryConfigError } from "./errors.js";
export type { HealthServer, HealthServerOptions, RouteHandler } from "./health.js";
export { startHealthServer } from "./health.js";
export type { CreateMetricsOptions, Metrics } from "./metrics.js";
export { createMetrics, ensureCounter, ensureGauge, ensureHistogram, subjectLabel } from "./metrics.js";
export { type LimitedLevel, RepeatLimiter, type RepeatLimiterOptions } from "./repeat-limit.js";
export type { Telemetry, TelemetryOptions } from "./telemetry.js";
export { createTelemetry } from "./telemetry.js";
export { isTracing, SESSION_SPAN, SessionRootSampler } from "./tracing.js";
