// Deliveries to the edges holding a user's devices (docs/architecture.md: addressed to edges, acked).
import type { Bus, DeliveryEnvelope } from "@impp/bus";
import { DeliveryFilter, deliverToEdge, isEnvelopeError } from "@impp/bus";
import { traceHeaders } from "@impp/telemetry";

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
    const ack = await deliverToEdge(bus, edgeId, envelope, { timeoutMs, headers: traceHeaders() });
    if (isEnvelopeError(ack)) return { ok: false, edgeId, error: ack };
    return { ok: true, edgeId, delivered: ack.delivered };
  } catch (error) {
    return { ok: false, edgeId, error };
  }
}

export interface AccountDelivery {
  account: string;
  /** The account's devices (from the session store); only their edges are addressed. */
  devices: readonly { readonly name: string; readonly edgeId: string }[];
  /** A device that must not get it (the sender's own device). */
  except?: string | undefined;
  /** Only devices that declared this capability (0 = any). */
  capability?: number;
  frames: Uint8Array;
  timeoutMs: number;
}

/**
 * The same frames to every device of one account (but `except`), one delivery per edge holding
 * one of them, all at once; the outcomes say what each edge acknowledged. Never throws.
 */
export function deliverToAccount(bus: Bus, d: AccountDelivery): Promise<DeliveryOutcome[]> {
  const targets = d.except === undefined ? d.devices : d.devices.filter((x) => x.name !== d.except);
  const envelope: DeliveryEnvelope = {
    account: d.account,
    filter: d.except === undefined ? DeliveryFilter.ALL : DeliveryFilter.EXCEPT_DEVICE,
    device: d.except ?? "",
    capability: d.capability ?? 0,
    closeAfter: false,
    frames: d.frames,
  };
  // The edges holding them: a user's few devices, usually on one edge (an instant message's case,
  // #13: no map, no Promise.all then).
  const edges: string[] = [];
  for (const x of targets) if (!edges.includes(x.edgeId)) edges.push(x.edgeId);
  if (edges.length === 0) return Promise.resolve([]);
  if (edges.length === 1) return deliver(bus, edges[0]!, envelope, d.timeoutMs).then(asList);
  return Promise.all(edges.map((edgeId) => deliver(bus, edgeId, envelope, d.timeoutMs)));
}

const asList = (o: DeliveryOutcome): DeliveryOutcome[] => [o];

export interface FanOut {
  /** Each account with its devices (from the session store): only their edges are addressed. */
  recipients: ReadonlyArray<{
    readonly account: string;
    readonly devices: readonly { readonly edgeId: string; readonly name?: string }[];
  }>;
  /** One device that must not get it (the sender's own device; the sender's others do). */
  except?: { readonly account: string; readonly device: string } | undefined;
  frames: Uint8Array;
  timeoutMs: number;
}

/**
 * The same frames to every device of many accounts — a presence change to its watchers, a group
 * message to its members: ONE delivery per edge (its accounts listed in it), all edges at once.
 * Never throws.
 */
export function deliverToMany(bus: Bus, f: FanOut): Promise<DeliveryOutcome[]> {
  const accountsByEdge = new Map<string, Set<string>>();
  for (const r of f.recipients) {
    for (const d of r.devices) {
      // The excepted device alone on an edge is no reason to send that edge anything.
      if (f.except !== undefined && r.account === f.except.account && d.name === f.except.device) continue;
      const set = accountsByEdge.get(d.edgeId);
      if (set === undefined) accountsByEdge.set(d.edgeId, new Set([r.account]));
      else set.add(r.account);
    }
  }
  return Promise.all(
    [...accountsByEdge].map(([edgeId, accounts]) => {
      // The excepted device's account goes first: the edge applies the device filter to it only.
      const skip = f.except !== undefined && accounts.has(f.except.account) ? f.except : undefined;
      if (skip !== undefined) accounts.delete(skip.account);
      const [first, ...others] = skip === undefined ? [...accounts] : [skip.account, ...accounts];
      const envelope: DeliveryEnvelope = {
        account: first!,
        filter: skip === undefined ? DeliveryFilter.ALL : DeliveryFilter.EXCEPT_DEVICE,
        device: skip?.device ?? "",
        capability: 0,
        closeAfter: false,
        frames: f.frames,
      };
      if (others.length > 0) envelope.others = others;
      return deliver(bus, edgeId, envelope, f.timeoutMs);
    }),
  );
}

/**
 * How long a service waits for an edge's ack of a delivery: half the edge's request timeout (so the
 * requester still gets an answer in time), at most 2 s, at least 50 ms; `override` wins (tests).
 */
export function deliveryTimeout(config: { limits: { requestTimeoutMs: number } }, override?: number): number {
  return override ?? Math.min(2000, Math.max(50, Math.floor(config.limits.requestTimeoutMs / 2)));
}
