import {
  type Attributes,
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  INVALID_SPAN_CONTEXT,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { isTracing } from "./tracing.js";

// Our own instance rather than the global propagator: bus code may inject/extract before (or without)
// any createTelemetry call, and the W3C propagator is stateless.
const propagator = new W3CTraceContextPropagator();

/**
 * Writes W3C `traceparent`/`tracestate` for `ctx` (default: the active context) into `headers` and returns
 * them. Without a valid span in the context nothing is written.
 */
export function injectContext(
  headers: Record<string, string>,
  ctx: Context = context.active(),
): Record<string, string> {
  propagator.inject(ctx, headers, defaultTextMapSetter);
  return headers;
}

/**
 * The trace headers for the active context, or undefined when no span is active (tracing off: the
 * bus then carries no headers at all, nothing is allocated).
 */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> | undefined {
  if (trace.getSpan(ctx) === undefined) return undefined;
  const headers = injectContext({}, ctx);
  return headers["traceparent"] === undefined ? undefined : headers;
}

/**
 * Reads W3C trace context from bus headers. Starts from the root context, not the active one, so a
 * subscriber's own ambient span never becomes the parent of an unrelated message. Malformed headers
 * (hostile input) yield the root context.
 */
export function extractContext(headers: Record<string, string> | undefined): Context {
  if (headers === undefined) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

/**
 * Runs `fn` inside a new active span (child of `parent`, or of the active context when `parent` is
 * undefined). A thrown error is recorded on the span, sets ERROR status and is rethrown; the span always ends.
 */
export function withSpan<T>(
  tracer: Tracer,
  name: string,
  parent: Context | undefined,
  attrs: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return withLinkedSpan(tracer, name, parent, attrs, undefined, fn);
}

/** What a function run without a span gets: records nothing, costs nothing. */
export const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * withSpan, with links to other spans (e.g. a request's span to its connection's impp.session).
 * For a tracer whose spans nobody exports, `fn` runs directly with a non-recording span.
 */
export function withLinkedSpan<T>(
  tracer: Tracer,
  name: string,
  parent: Context | undefined,
  attrs: Attributes,
  links: Link[] | undefined,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  if (!isTracing(tracer)) return fn(NO_SPAN);
  const options = links === undefined ? { attributes: attrs } : { attributes: attrs, links };
  return tracer.startActiveSpan(name, options, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      if (err instanceof Error) {
        span.recordException(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      } else {
        span.recordException(String(err));
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
      }
      throw err;
    } finally {
      span.end();
    }
  });
}
