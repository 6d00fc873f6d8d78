/** A telemetry option that cannot work; thrown at start so a misconfigured process never runs half-observed. */
export class TelemetryConfigError extends Error {
  override readonly name = "TelemetryConfigError";
  constructor(
    readonly code: "invalid_service_name" | "invalid_log_level" | "invalid_otlp_endpoint" | "metric_conflict",
    message: string,
  ) {
    super(message);
  }
}

/** The health/metrics HTTP endpoint could not start (e.g. the port is taken). */
export class HealthServerError extends Error {
  override readonly name = "HealthServerError";
  constructor(
    readonly code: "listen_failed",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
