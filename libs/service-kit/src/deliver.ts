// Deliveries to the edges holding a user's devices (docs/architecture.md: addressed to edges, acked).
import type { Bus, DeliveryEnvelope } from "@impp/bus";
import { decodeDeliveryAck, encodeDelivery, isEnvelopeError, subjects } from "@impp/bus";
import { injectContext } from "@impp/telemetry";

export type DeliveryOutcome =
  | { ok: true; edgeId: string; delivered: number }
  | { ok: false; edgeId: string; error: unknown };

/** Sends one delivery to one edge and waits (bounded) for its ack. Never throws. */
export async function deliver(
  bus: Bus,
  edgeId: string,
  envelope: DeliveryEnvelope,
  timeoutMs: number,
): Promise<DeliveryOutcome> {
  try {
    const msg = await bus.request(subjects.edge(edgeId), encodeDelivery(envelope), {
      timeoutMs,
      headers: injectContext({}),
    });
    const ack = decodeDeliveryAck(msg.data);
    if (isEnvelopeError(ack)) return { ok: false, edgeId, error: ack };
    return { ok: true, edgeId, delivered: ack.delivered };
  } catch (error) {
    return { ok: false, edgeId, error };
  }
}

/** Devices grouped by the edge holding them: one delivery per edge, not per device. */
export function byEdge<D extends { readonly edgeId: string }>(devices: readonly D[]): Map<string, D[]> {
  const out = new Map<string, D[]>();
  for (const d of devices) {
    const list = out.get(d.edgeId);
    if (list === undefined) out.set(d.edgeId, [d]);
    else list.push(d);
  }
  return out;
}
