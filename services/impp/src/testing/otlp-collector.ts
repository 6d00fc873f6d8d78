// A stand-in OTLP/HTTP collector for tests: collects the JSON bodies posted to it and reads the
// spans out of them in the shape the OTLP JSON encoding gives (ids in hex, attributes as key/value).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface OtlpValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
}

export interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

export interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: OtlpAttribute[];
  events?: Array<{ name: string; attributes?: OtlpAttribute[] }>;
  links?: Array<{ traceId: string; spanId: string }>;
}

export interface Collector {
  /** OTEL_EXPORTER_OTLP_ENDPOINT for the server. */
  readonly endpoint: string;
  /** Every span received so far. */
  spans(): OtlpSpan[];
  close(): Promise<void>;
}

export async function startCollector(): Promise<Collector> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => {
      bodies.push(body);
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => bodies.flatMap(spansOf),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export function spansOf(body: string): OtlpSpan[] {
  const doc = JSON.parse(body) as {
    resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
  };
  return (doc.resourceSpans ?? []).flatMap((r) => (r.scopeSpans ?? []).flatMap((s) => s.spans ?? []));
}

/** An attribute's value as a string (whatever its OTLP type), or undefined. */
export function attr(span: { attributes?: OtlpAttribute[] }, key: string): string | undefined {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  const x = v.stringValue ?? v.boolValue ?? v.intValue ?? v.doubleValue;
  return x === undefined ? undefined : String(x);
}
