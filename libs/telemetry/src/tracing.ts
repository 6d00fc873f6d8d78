import { hostname } from "node:os";
import { context, propagation, type Tracer, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { TelemetryConfigError } from "./errors.js";

// OTel's API globals can be set once per process. Embedded mode creates one Telemetry per service in the
// same process, so registration happens on the first call and later calls reuse what is there.
let globalsRegistered = false;

function registerGlobalsOnce(provider: BasicTracerProvider): void {
  if (globalsRegistered) return;
  globalsRegistered = true;
  const manager = new AsyncLocalStorageContextManager();
  manager.enable();
  // False when someone (e.g. a host application) registered first: theirs wins, ours is dropped.
  if (!context.setGlobalContextManager(manager)) manager.disable();
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  // The global provider serves third-party instrumentation; our own code uses Telemetry.tracer, which
  // belongs to its own provider so each embedded service keeps its service.name.
  trace.setGlobalTracerProvider(provider);
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

export interface TracingOptions {
  readonly serviceName: string;
  readonly otlpEndpoint?: string | undefined;
  readonly spanExporter?: SpanExporter | undefined;
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
    // Nothing to export to: spans are non-recording (no attributes kept, no processor work) but still get
    // ids, so logs carry trace ids and traceparent still flows through the bus.
    sampler:
      processors.length === 0
        ? new AlwaysOffSampler()
        : new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: processors,
  });
  registerGlobalsOnce(provider);
  return {
    tracer: provider.getTracer(opts.serviceName),
    shutdown: () => provider.shutdown(),
  };
}
