// Helpers for the services' tests: configs, request envelopes, a fake edge, and (re-exported from
// @impp/test-kit) the readers of reply frames.
import {
  type Bus,
  type DeliveryEnvelope,
  decodeDelivery,
  encodeDeliveryAck,
  isEnvelopeError,
  type ReplyEnvelope,
  type RequestEnvelope,
  subjects,
} from "@impp/bus";
import { type Config, ConfigError, loadConfig } from "@impp/config";
import type { FamilyModule } from "./module.js";
import { moduleHandler, settle } from "./serve.js";

export { errorCode, frames, only } from "@impp/test-kit";

export function testConfig(env: Record<string, string> = {}): Config {
  const c = loadConfig(env, { hostname: "test", pid: 1 });
  if (c instanceof ConfigError) throw c;
  return c;
}

/** What a service's tests send by default; family and type are the service's own. */
export type RequestDefaults = Pick<RequestEnvelope, "family" | "type"> & Partial<RequestEnvelope>;

export type RequestBuilder = (block: Uint8Array, over?: Partial<RequestEnvelope>) => RequestEnvelope;

/** A request envelope builder with a service's defaults; `over` wins over them. */
export function requestBuilder(defaults: RequestDefaults): RequestBuilder {
  return (block, over = {}) => ({
    flags: 0,
    sequence: 77,
    connId: "c1",
    edgeId: "edge-a",
    account: "",
    device: "",
    remoteAddress: "192.0.2.1",
    server: "a.example.org:3158",
    ...defaults,
    // Each envelope its own list, as if written out per call: a test may change one.
    capabilities: [...(defaults.capabilities ?? [])],
    block,
    ...over,
  });
}

export interface FakeEdge {
  readonly id: string;
  readonly received: DeliveryEnvelope[];
  /** How many connections the next acks claim; default 1. */
  delivered: number;
  /** Resolves with the next delivery this edge receives. */
  next(): Promise<DeliveryEnvelope>;
  stop(): void;
}

/** An "edge" on the bus that records DeliveryEnvelopes and acks them. */
export function fakeEdge(bus: Bus, id: string): FakeEdge {
  const waiting: Array<(e: DeliveryEnvelope) => void> = [];
  const edge: FakeEdge = {
    id,
    received: [],
    delivered: 1,
    next: () => new Promise((resolve) => waiting.push(resolve)),
    stop: () => sub.unsubscribe(),
  };
  const sub = bus.subscribe(subjects.edge(id), (msg) => {
    const env = decodeDelivery(msg.data);
    if (isEnvelopeError(env)) throw env;
    const copy = { ...env, frames: Buffer.from(env.frames) };
    edge.received.push(copy);
    msg.respond(encodeDeliveryAck({ delivered: edge.delivered }));
    for (const w of waiting.splice(0)) w(copy);
  });
  return edge;
}

/**
 * A module's family as a function, the way serveFamily runs it (session check, shape, handler),
 * with the follow-up work done before it resolves: tests look at deliveries right after.
 */
export function handlerFor<State>(
  module: FamilyModule<State>,
  family: number,
  state: State,
  config: { domain: string },
): (req: RequestEnvelope) => Promise<ReplyEnvelope> {
  const handler = moduleHandler(module, family, state, { config });
  return (req) => settle(handler, req);
}
