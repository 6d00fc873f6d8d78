// Deliveries addressed to this edge (docs/architecture.md): find the account's connections here,
// apply the device and capability filters, write, acknowledge how many got it.
import {
  type BusMessage,
  type DeliveryEnvelope,
  DeliveryFilter,
  decodeDelivery,
  encodeDeliveryAck,
  isEnvelopeError,
} from "@impp/bus";
import { FramesError, OutFrames } from "./frames.js";

/** What delivery needs to know of a connection. */
export interface DeliveryTarget {
  readonly device: string;
  readonly capabilities: readonly number[];
  /** Writes the frames; false when the connection could not take them (closed). */
  deliver(frames: OutFrames, closeAfter: boolean): boolean;
}

/** Bound connections by account: a delivery touches only its account's connections, never a scan of all. */
export class AccountIndex<C> {
  private readonly byAccount = new Map<string, C[]>();

  add(account: string, c: C): void {
    const list = this.byAccount.get(account);
    if (list === undefined) this.byAccount.set(account, [c]);
    else if (!list.includes(c)) list.push(c);
  }

  remove(account: string, c: C): void {
    const list = this.byAccount.get(account);
    if (list === undefined) return;
    const i = list.indexOf(c);
    if (i < 0) return;
    if (list.length === 1) this.byAccount.delete(account);
    else list.splice(i, 1);
  }

  get(account: string): readonly C[] | undefined {
    return this.byAccount.get(account);
  }

  /** Accounts with at least one connection. */
  get size(): number {
    return this.byAccount.size;
  }
}

export function matchesFilter(
  target: { readonly device: string; readonly capabilities: readonly number[] },
  filter: number,
  device: string,
  capability: number,
): boolean {
  if (filter === DeliveryFilter.ONLY_DEVICE && target.device !== device) return false;
  if (filter === DeliveryFilter.EXCEPT_DEVICE && target.device === device) return false;
  return capability === 0 || target.capabilities.includes(capability);
}

export type DeliveryOutcome =
  | { readonly ok: true; readonly delivered: number }
  | { readonly ok: false; readonly reason: string };

/** Writes one delivery to the matching connections. */
export function deliver(env: DeliveryEnvelope, index: AccountIndex<DeliveryTarget>): DeliveryOutcome {
  const frames = OutFrames.parse(env.frames);
  if (frames instanceof FramesError) return { ok: false, reason: frames.message };
  let delivered = deliverToAccount(env, env.account, env.filter, frames, index);
  // The device filter names a device of `account`: device names are per account, so the others get
  // every connection (a group message to the members, the sender's own device left out).
  if (env.others !== undefined)
    for (const a of env.others) delivered += deliverToAccount(env, a, DeliveryFilter.ALL, frames, index);
  return { ok: true, delivered };
}

function deliverToAccount(
  env: DeliveryEnvelope,
  account: string,
  filter: number,
  frames: OutFrames,
  index: AccountIndex<DeliveryTarget>,
): number {
  const conns = index.get(account);
  if (conns === undefined) return 0;
  let delivered = 0;
  // A copy: closeAfter (or a slow reader) may take a connection out of the list while we iterate.
  for (const c of conns.length === 1 ? conns : [...conns]) {
    if (!matchesFilter(c, filter, env.device, env.capability)) continue;
    if (c.deliver(frames, env.closeAfter)) delivered++;
  }
  return delivered;
}

/** The bus handler for subjects.edge(edgeId). An undecodable delivery is acknowledged with 0. */
export function handleDeliveryMessage(
  msg: BusMessage,
  index: AccountIndex<DeliveryTarget>,
  onBad: (reason: string) => void,
): number {
  const env = decodeDelivery(msg.data);
  let delivered = 0;
  if (isEnvelopeError(env)) {
    onBad(env.message);
  } else {
    const out = deliver(env, index);
    if (out.ok) delivered = out.delivered;
    else onBad(out.reason);
  }
  msg.respond(encodeDeliveryAck({ delivered }));
  return delivered;
}
