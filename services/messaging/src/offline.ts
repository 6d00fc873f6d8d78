// Offline messages (PROTOCOL.md §4.4): storing what could not be delivered (called from
// messageSend when no capable device is online, or when the delivery reached nobody), and the
// OFFLINE_MESSAGES_GET / OFFLINE_MESSAGES_DELETE routes.
import type { Config } from "@impp/config";
import { Capability, GlobalError, ImTlv, ImType, TlvWriter } from "@impp/protocol";
import { errorReply, type Outcome, type Request, responseFrame, route, type Shape } from "@impp/service-kit";
import type { Telemetry } from "@impp/telemetry";
import type { OfflineLimits, OfflineMessage, OfflineRepository, StoreOutcome } from "./offline-store.js";

/** TYPING is a live signal: to an offline user it is answered without being stored. */
export function isStorable(capability: number): boolean {
  return capability !== Capability.TYPING;
}

/** The offline side of the messaging module's state. */
export interface Offline {
  readonly repo: OfflineRepository;
  readonly limits: OfflineLimits;
  /** Stores one message durably; resolves once committed (group commit with whatever else is waiting). */
  store(m: OfflineMessage): Promise<StoreOutcome>;
  /** Waits for writes in progress (module stop). */
  settle(): Promise<void>;
}

export interface OfflineOptions {
  /** Messages per transaction at most (default 256); 1 turns batching off. */
  readonly maxBatch?: number;
  /** Transactions in flight at once (default 2; PGlite serialises them anyway). */
  readonly concurrency?: number;
}

interface Waiting {
  readonly m: OfflineMessage;
  resolve(o: StoreOutcome): void;
  reject(e: unknown): void;
}

/**
 * Group commit: a message that arrives while a transaction is being written waits for the next one,
 * which takes everything that queued meanwhile. No timer, no added latency when idle; under load one
 * commit (one WAL flush) covers many messages.
 */
export function createOffline(
  repo: OfflineRepository,
  limits: OfflineLimits,
  opts: OfflineOptions = {},
): Offline {
  const maxBatch = Math.max(1, opts.maxBatch ?? 256);
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const queue: Waiting[] = [];
  let running = 0;
  const idle: Array<() => void> = [];

  const pump = (): void => {
    while (running < concurrency && queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      running++;
      repo
        .storeMany(
          batch.map((w) => w.m),
          limits,
        )
        .then(
          (out) => {
            for (let i = 0; i < batch.length; i++) batch[i]!.resolve(out[i]!);
          },
          (e: unknown) => {
            for (const w of batch) w.reject(e);
          },
        )
        .finally(() => {
          running--;
          pump();
          if (running === 0 && queue.length === 0) for (const f of idle.splice(0)) f();
        });
    }
  };

  return {
    repo,
    limits,
    store(m) {
      return new Promise<StoreOutcome>((resolve, reject) => {
        queue.push({ m, resolve, reject });
        pump();
      });
    },
    settle() {
      if (running === 0 && queue.length === 0) return Promise.resolve();
      return new Promise((r) => idle.push(r));
    },
  };
}

/** Bytes of one TLV with a value of n bytes (the 32-bit length form above 65535, §2.3). */
const tlvSize = (n: number) => (n > 0xffff ? 6 : 4) + n;
const TIMESTAMP_TLV = tlvSize(8);

/** One OFFLINE_MESSAGE tuple: FROM, TO, CAPABILITY, MESSAGE_ID, MESSAGE_SIZE, MESSAGE_CHUNK, CREATED_AT, TIMESTAMP. */
export function offlineTuple(m: OfflineMessage): Buffer {
  const w = new TlvWriter(96 + m.messageId.length + (m.chunk?.length ?? 0));
  w.string(ImTlv.FROM, m.from);
  w.string(ImTlv.TO, m.to);
  w.u16(ImTlv.CAPABILITY, m.capability);
  w.bytes(ImTlv.MESSAGE_ID, m.messageId);
  if (m.messageSize !== undefined) w.u32(ImTlv.MESSAGE_SIZE, m.messageSize);
  if (m.chunk !== undefined) w.bytes(ImTlv.MESSAGE_CHUNK, m.chunk);
  if (m.createdAt !== undefined) w.bytes(ImTlv.CREATED_AT, m.createdAt);
  w.u64(ImTlv.TIMESTAMP, m.timestamp);
  return Buffer.from(w.finish());
}

/** The largest tuple a GET response can carry (with the closing TIMESTAMP) under this block limit. */
export function fitsInResponse(m: OfflineMessage, maxBlockSize: number): boolean {
  return tlvSize(offlineTuple(m).length) + TIMESTAMP_TLV <= maxBlockSize;
}

export interface OfflineRouteDeps {
  offline?: Offline | undefined;
  config: Pick<Config, "limits">;
  telemetry?: Telemetry | undefined;
}

/** Rows read per round trip while filling a GET response. */
const PAGE = 64;

/**
 * OFFLINE_MESSAGES_GET: the stored messages of the capabilities this device declared, oldest first,
 * as many as fit in one block (IMPP_MAX_BLOCK), then the TIMESTAMP of the newest returned. An empty
 * request block is the normal case (real clients send exactly that after BIND).
 */
async function offlineGet(req: Request<Shape>, deps: OfflineRouteDeps): Promise<Outcome> {
  const env = req.envelope;
  const offline = deps.offline;
  if (offline === undefined) return errorReply(env, GlobalError.SERVICE_UNAVAILABLE);
  const budget = deps.config.limits.maxBlockSize - TIMESTAMP_TLV;
  const caps = env.capabilities.filter(isStorable);
  const w = new TlvWriter(4096);
  let used = 0;
  let newest: number | undefined;
  let after = 0;
  for (;;) {
    const page = await offline.repo.page(env.account, caps, after, PAGE);
    let full = false;
    for (const m of page) {
      const tuple = offlineTuple(m);
      if (used + tlvSize(tuple.length) > budget) {
        full = true;
        break;
      }
      w.bytes(ImTlv.OFFLINE_MESSAGE, tuple);
      used += tlvSize(tuple.length);
      newest = m.timestamp;
      after = m.timestamp;
    }
    if (full || page.length < PAGE) break;
  }
  if (newest !== undefined) w.u64(ImTlv.TIMESTAMP, newest);
  return { actions: 0, frames: responseFrame(env, w) };
}

export const offlineDeleteShape = {
  timestamp: { tlv: ImTlv.TIMESTAMP, kind: "u64", required: true },
} as const satisfies Shape;

/** OFFLINE_MESSAGES_DELETE: this user's stored messages with TIMESTAMP ≤ the given one, of this device's capabilities. */
async function offlineDelete(
  req: Request<typeof offlineDeleteShape>,
  deps: OfflineRouteDeps,
): Promise<Outcome> {
  const env = req.envelope;
  const offline = deps.offline;
  if (offline === undefined) return errorReply(env, GlobalError.SERVICE_UNAVAILABLE);
  const deleted = await offline.repo.delete(
    env.account,
    env.capabilities.filter(isStorable),
    req.fields.timestamp,
  );
  // The client deletes what it has received: those stored messages reached their recipient.
  if (deleted > 0) deps.telemetry?.metrics.offlineDelivered.inc(deleted);
  return { actions: 0, frames: responseFrame(env, new TlvWriter(0)) };
}

export const offlineRoutes = [
  route({ type: ImType.OFFLINE_MESSAGES_GET, session: "bound", shape: {}, handle: offlineGet }),
  route({
    type: ImType.OFFLINE_MESSAGES_DELETE,
    session: "bound",
    shape: offlineDeleteShape,
    handle: offlineDelete,
  }),
];
