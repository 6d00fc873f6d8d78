// Deliveries addressed to this edge (docs/architecture.md): find the account's connections here,
// apply the device and capability filters, write, acknowledge how many got it.
import { type DeliveryEnvelope, DeliveryFilter } from "@impp/bus";
import { FramesError, OutFrames } from "./frames.js";

/** What delivery needs to know of a connection. */
export interface DeliveryTarget {
  readonly device: string;
  readonly capabilities: readonly number[];
  /**
   * Writes the frames. false: the connection could not take them (closed). true, or a promise of
   * true: delivered — a connection answers with a promise that settles once the kernel took the
   * bytes (true) or the connection closed first (false), because bytes in the process's output
   * buffer are not delivered: they die with the connection or the process.
   */
  deliver(frames: OutFrames, closeAfter: boolean): boolean | Promise<boolean>;
  /** The flush deadline passed with the frames still not taken: close it as a slow reader. */
  cutOff?(): void;
}

/** What delivery reads of the index: an account's connections. */
export interface TargetLookup<C> {
  get(account: string): readonly C[] | undefined;
}

/** Bound connections by account: a delivery touches only its account's connections, never a scan of all. */
export class AccountIndex<C> implements TargetLookup<C> {
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

/**
 * Writes one delivery to the matching connections and counts those that took it. A connection
 * whose kernel has not taken the frames within `flushTimeoutMs` is cut off as a slow reader and
 * not counted: the sender's service then stores the message offline, and since the connection is
 * gone the frames can no longer arrive as well.
 */
export function deliver(
  env: DeliveryEnvelope,
  index: TargetLookup<DeliveryTarget>,
  flushTimeoutMs = 1000,
): DeliveryOutcome | Promise<DeliveryOutcome> {
  const frames = OutFrames.parse(env.frames);
  if (frames instanceof FramesError) return { ok: false, reason: frames.message };
  const tally: Tally = { delivered: 0, waiting: undefined };
  deliverToAccount(env, env.account, env.filter, frames, index, tally);
  // The device filter names a device of `account`: device names are per account, so the others get
  // every connection (a group message to the members, the sender's own device left out).
  if (env.others !== undefined)
    for (const a of env.others) deliverToAccount(env, a, DeliveryFilter.ALL, frames, index, tally);
  const { waiting } = tally;
  let { delivered } = tally;
  if (waiting === undefined) return { ok: true, delivered };
  const timer = setTimeout(() => {
    for (const w of waiting) if (!w.settled) w.target.cutOff?.();
  }, flushTimeoutMs);
  // One connection (an instant message to a user's device here): its promise alone, no Promise.all.
  const taken =
    waiting.length === 1 ? waiting[0]!.taken.then(asList) : Promise.all(waiting.map((w) => w.taken));
  return taken.then((list) => {
    clearTimeout(timer);
    for (const t of list) if (t) delivered++;
    return { ok: true, delivered };
  });
}

const asList = (t: boolean): boolean[] => [t];

interface Waiting {
  target: DeliveryTarget;
  taken: Promise<boolean>;
  settled: boolean;
}

interface Tally {
  delivered: number;
  /** Writes the kernel has not taken yet (the ack waits for them). */
  waiting: Waiting[] | undefined;
}

function deliverToAccount(
  env: DeliveryEnvelope,
  account: string,
  filter: number,
  frames: OutFrames,
  index: TargetLookup<DeliveryTarget>,
  tally: Tally,
): void {
  const conns = index.get(account);
  if (conns === undefined) return;
  // A copy: closeAfter (or a slow reader) may take a connection out of the list while we iterate.
  for (const c of conns.length === 1 ? conns : [...conns]) {
    if (!matchesFilter(c, filter, env.device, env.capability)) continue;
    const r = c.deliver(frames, env.closeAfter);
    if (r === true) tally.delivered++;
    else if (r !== false) {
      const w: Waiting = { target: c, taken: r, settled: false };
      void r.then(() => {
        w.settled = true;
      });
      if (tally.waiting === undefined) tally.waiting = [w];
      else tally.waiting.push(w);
    }
  }
}

/**
 * Serves one delivery addressed to this edge (serveDeliveries, in @impp/bus, brings it decoded or
 * as a direct call): how many connections took it — the kernel has the bytes — which is the ack.
 */
export function serveDelivery(
  env: DeliveryEnvelope,
  index: TargetLookup<DeliveryTarget>,
  onBad: (reason: string) => void,
  flushTimeoutMs?: number,
): number | Promise<number> {
  const answer = (out: DeliveryOutcome): number => {
    if (out.ok) return out.delivered;
    onBad(out.reason);
    return 0;
  };
  const out = deliver(env, index, flushTimeoutMs);
  return out instanceof Promise ? out.then(answer) : answer(out);
}
