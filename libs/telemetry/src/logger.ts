import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import pino from "pino";
import { TelemetryConfigError } from "./errors.js";

const LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

export function isLogLevel(level: string): boolean {
  return LEVELS.has(level);
}

// Pino's default merge strategy assigns into the object the mixin returns, so each call must return a
// fresh object (a shared constant would accumulate fields from earlier log calls).
function traceMixin(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/** JSON logger whose lines made inside an active span carry `trace_id` and `span_id`. */
export function createLogger(
  serviceName: string,
  level: string,
  destination: NodeJS.WritableStream | undefined,
): pino.Logger {
  if (!isLogLevel(level)) {
    throw new TelemetryConfigError(
      "invalid_log_level",
      `log level must be one of ${[...LEVELS].join(", ")}; got ${JSON.stringify(level)}`,
    );
  }
  const options: pino.LoggerOptions = {
    level,
    base: { service: serviceName, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: traceMixin,
  };
  return destination === undefined ? pino(options) : pino(options, destination as pino.DestinationStream);
}
