import { hostname } from "node:os";
import { type Context, context, propagation, type Tracer, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { TelemetryConfigError } from "./errors.js";

// OTel's API globals can be set once per process. Embedded mode creates one Telemetry per service in the
// same process, so registration happens on the first call and later calls reuse what is there.
let globalsRegistered = false;
let contextManagerRegistered = false;

function registerGlobalsOnce(provider: BasicTracerProvider, exporting: boolean): void {
  if (!globalsRegistered) {
    globalsRegistered = true;
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    // The global provider serves third-party instrumentation; our own code uses Telemetry.tracer, which
    // belongs to its own provider so each embedded service keeps its service.name.
    trace.setGlobalTracerProvider(provider);
  }
  // The async context (AsyncLocalStorage: a hook on every promise) only once spans are exported:
  // without an exporter nobody reads a span, and the hooks cost ~5 % of the IM hot path (#13).
  if (exporting && !contextManagerRegistered) {
    contextManagerRegistered = true;
    const manager = new AsyncLocalStorageContextManager();
    manager.enable();
    // False when someone (e.g. a host application) registered first: theirs wins, ours is dropped.
    if (!context.setGlobalContextManager(manager)) manager.disable();
  }
}

/**
 * Tracers whose spans nobody exports (no OTLP endpoint, no test exporter). withSpan and
 * withLinkedSpan run their function directly for these: no span object, no context switch, no
 * attributes built — telemetry that costs nothing when nobody listens. Sessions still start a
 * (non-recording) span with ids, once per connection, so log lines carry a trace id.
 */
const silentTracers = new WeakSet<Tracer>();

/** Whether spans of this tracer go anywhere (an exporter is configured). */
export function isTracing(tracer: Tracer): boolean {
  return !silentTracers.has(tracer);
}

/** Resolves OTEL_EXPORTER_OTLP_ENDPOINT semantics: a base URL to which the signal path is appended. */
export function otlpTracesUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TelemetryConfigError("invalid_otlp_endpoint", `OTLP endpoint is not a URL: ${endpoint}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TelemetryConfigError("invalid_otlp_endpoint", `OTLP endpoint must be http(s): ${endpoint}`);
  }
  const base = url.href.replace(/\/+$/, "");
  return base.endsWith("/v1/traces") ? base : `${base}/v1/traces`;
}

/**
 * The root span of one client connection, from accept to close (the edge). Always sampled when
 * spans are exported at all; request and delivery spans link to it.
 */
export const SESSION_SPAN = "impp.session";

export interface TracingOptions {
  readonly serviceName: string;
  readonly otlpEndpoint?: string | undefined;
  readonly spanExporter?: SpanExporter | undefined;
  /** Share of other root spans (requests) sampled, by trace id; default 1. Sessions are always kept. */
  readonly messageRatio?: number | undefined;
}

const KEEP: SamplingResult = { decision: SamplingDecision.RECORD_AND_SAMPLED };

/**
 * Roots only (ParentBasedSampler asks it for spans without a parent): a session is always kept,
 * anything else by trace-id ratio. Children follow their parent, across processes too (the
 * sampled flag travels in traceparent), so a request's trace is whole or absent.
 */
export class SessionRootSampler implements Sampler {
  private readonly messages: TraceIdRatioBasedSampler;

  constructor(readonly ratio: number) {
    this.messages = new TraceIdRatioBasedSampler(ratio);
  }

  shouldSample(ctx: Context, traceId: string, name: string): SamplingResult {
    return name === SESSION_SPAN ? KEEP : this.messages.shouldSample(ctx, traceId);
  }

  toString(): string {
    return `SessionRootSampler{${SESSION_SPAN}=always, ratio=${this.ratio}}`;
  }
}

export interface Tracing {
  readonly tracer: Tracer;

  shutdown(): Promise<void>;
}

export function createTracing(opts: TracingOptions): Tracing {
  const processors: SpanProcessor[] = [];
  if (opts.otlpEndpoint !== undefined && opts.otlpEndpoint !== "") {
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: otlpTracesUrl(opts.otlpEndpoint) })));
  }
  if (opts.spanExporter !== undefined) processors.push(new SimpleSpanProcessor(opts.spanExporter));
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: opts.serviceName,
        "service.instance.id": `${hostname()}/${process.pid}`,
      }),
    ),
    // Nothing to export to: the only spans made are the connections' impp.session spans
    // (non-recording, with ids, so a connection's log lines share a trace id); requests make none
    // (withSpan runs them directly, see silentTracers) and no traceparent travels on the bus.
    sampler:
      processors.length === 0
        ? new AlwaysOffSampler()
        : new ParentBasedSampler({ root: new SessionRootSampler(opts.messageRatio ?? 1) }),
    spanProcessors: processors,
  });
  registerGlobalsOnce(provider, processors.length > 0);
  const tracer = provider.getTracer(opts.serviceName);
  if (processors.length === 0) silentTracers.add(tracer);
  return {
    tracer,
    shutdown: () => provider.shutdown(),
  };
}
