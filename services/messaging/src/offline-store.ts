// The offline store (PROTOCOL.md §4.4): messages for a recipient with no capable device online,
// kept durably until the recipient's OFFLINE_MESSAGES_DELETE, the operator's retention, or the
// account's removal. The messaging module owns these tables and their migrations
// ("messaging_migration"); rows refer to auth's accounts(name) ON DELETE CASCADE.
//
// One row per recipient in offline_quota is the per-recipient lock and ledger: every write to a
// recipient's messages takes that row first (inserts, deletes, retention), so
//  - TIMESTAMPs are unique and increasing per recipient (ts = max(receipt time, last_ts + 1)), and a
//    message becomes visible only in ts order: a GET never misses a row that a DELETE ≤ its
//    TIMESTAMP would then remove;
//  - the caps (messages, bytes) are checked in O(1) without counting rows;
//  - the resend check (same sender, MESSAGE_ID, chunk) cannot race a second copy in.
import { type MigrationSet, type Store, tablesOf } from "@impp/store";
import { type Kysely, sql, type Transaction } from "kysely";

export const offlineMigrations: MigrationSet = {
  table: "messaging_migration",
  list: [
    {
      name: "0001_offline_messages",
      async up(db) {
        await sql`
          CREATE TABLE offline_quota (
            recipient text COLLATE "C" PRIMARY KEY REFERENCES accounts (name) ON DELETE CASCADE,
            last_ts bigint NOT NULL DEFAULT 0,
            messages integer NOT NULL DEFAULT 0,
            bytes bigint NOT NULL DEFAULT 0
          )`.execute(db);
        // (recipient, ts) is the primary key: GET and DELETE are one index range per user.
        await sql`
          CREATE TABLE offline_messages (
            recipient text COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
            ts bigint NOT NULL,
            sender text COLLATE "C" NOT NULL,
            capability integer NOT NULL,
            message_id bytea NOT NULL,
            message_size integer,
            chunk bytea,
            created_at bytea,
            PRIMARY KEY (recipient, ts)
          )`.execute(db);
        // The resend check: a client that lost the response sends the same MESSAGE_ID again.
        await sql`CREATE INDEX offline_messages_resend ON offline_messages (recipient, sender, message_id)`.execute(
          db,
        );
      },
    },
  ],
};

/** What the tables look like to Kysely (the queries here are raw SQL; this types the handle). */
export interface OfflineTables {
  offline_quota: { recipient: string; last_ts: string; messages: number; bytes: string };
  offline_messages: {
    recipient: string;
    ts: string;
    sender: string;
    capability: number;
    message_id: Uint8Array;
    message_size: number | null;
    chunk: Uint8Array | null;
    created_at: Uint8Array | null;
  };
}

export interface OfflineMessage {
  readonly from: string;
  readonly to: string;
  readonly capability: number;
  readonly messageId: Buffer;
  readonly messageSize: number | undefined;
  readonly chunk: Buffer | undefined;
  /** The 8 bytes the sender gave, relayed as received. */
  readonly createdAt: Buffer | undefined;
  /** Server receipt time (ms), unique per recipient. */
  readonly timestamp: number;
}

export interface OfflineLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

export type StoreOutcome =
  /** Stored (or already stored: a resend), with the TIMESTAMP it has in the store. */
  | { readonly ok: true; readonly timestamp: number; readonly duplicate: boolean }
  /** full: the recipient's cap; no_account: the recipient does not exist. */
  | { readonly ok: false; readonly reason: "full" | "no_account" };

export interface OfflineRepository {
  /**
   * Stores messages durably (committed when the promise resolves), one outcome per message in
   * order. All of them in one transaction when possible (group commit); a batch that fails as a
   * whole (an account removed meanwhile) is retried one message at a time.
   */
  storeMany(messages: readonly OfflineMessage[], limits: OfflineLimits): Promise<StoreOutcome[]>;
  /** A recipient's messages of these capabilities with TIMESTAMP > after, oldest first. */
  page(
    recipient: string,
    capabilities: readonly number[],
    after: number,
    limit: number,
  ): Promise<OfflineMessage[]>;
  /** Deletes a recipient's messages with TIMESTAMP ≤ upTo of these capabilities; how many went. */
  delete(recipient: string, capabilities: readonly number[], upTo: number): Promise<number>;
  /** Retention: deletes every message with TIMESTAMP < cutoff, recipient by recipient. */
  purgeOlderThan(cutoff: number): Promise<number>;
  /** The ledger of one recipient. */
  usage(recipient: string): Promise<{ messages: number; bytes: number }>;
}

type Db = Kysely<OfflineTables> | Transaction<OfflineTables>;

/** bytea comes back as a Buffer from pg and a Uint8Array from PGlite. */
function buf(v: Uint8Array | null | undefined): Buffer | undefined {
  if (v === null || v === undefined) return undefined;
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** bigint comes back as a string from pg and a number or bigint from PGlite. */
const num = (v: unknown): number => Number(v);

/** Postgres wants an int[] literal for ANY(): one parameter, the same on pg and PGlite. */
const intArray = (xs: readonly number[]) => `{${xs.map((x) => Math.trunc(x)).join(",")}}`;

async function storeOne(db: Db, m: OfflineMessage, limits: OfflineLimits): Promise<StoreOutcome> {
  // Take (or make) the recipient's ledger row, locked until commit. No row: no such account.
  const q = await sql<{ last_ts: unknown; messages: number; bytes: unknown }>`
    INSERT INTO offline_quota AS q (recipient)
    SELECT ${m.to} WHERE EXISTS (SELECT 1 FROM accounts WHERE name = ${m.to})
    ON CONFLICT (recipient) DO UPDATE SET recipient = q.recipient
    RETURNING q.last_ts, q.messages, q.bytes`.execute(db);
  const ledger = q.rows[0];
  if (ledger === undefined) return { ok: false, reason: "no_account" };
  const size = m.chunk?.length ?? 0;

  // A resend: the same chunk of the same MESSAGE_ID from the same sender is already stored, and
  // storing it again would take the message past its declared MESSAGE_SIZE.
  const prior = await sql<{ ts: unknown; same: boolean; have: unknown }>`
    SELECT ts, chunk IS NOT DISTINCT FROM ${m.chunk ?? null}::bytea AS same,
           coalesce(octet_length(chunk), 0) AS have
    FROM offline_messages
    WHERE recipient = ${m.to} AND sender = ${m.from} AND message_id = ${m.messageId}
    ORDER BY ts`.execute(db);
  if (prior.rows.length > 0) {
    const stored = prior.rows.reduce((n, r) => n + num(r.have), 0);
    const same = prior.rows.find((r) => r.same);
    const total = m.messageSize ?? size;
    if (same !== undefined && stored + size > total) {
      return { ok: true, timestamp: num(same.ts), duplicate: true };
    }
  }

  if (ledger.messages + 1 > limits.maxMessages || num(ledger.bytes) + size > limits.maxBytes) {
    return { ok: false, reason: "full" };
  }
  const ts = Math.max(m.timestamp, num(ledger.last_ts) + 1);
  await sql`
    INSERT INTO offline_messages
      (recipient, ts, sender, capability, message_id, message_size, chunk, created_at)
    VALUES (${m.to}, ${ts}, ${m.from}, ${m.capability}, ${m.messageId}, ${m.messageSize ?? null},
            ${m.chunk ?? null}, ${m.createdAt ?? null})`.execute(db);
  await sql`
    UPDATE offline_quota SET last_ts = ${ts}, messages = messages + 1, bytes = bytes + ${size}
    WHERE recipient = ${m.to}`.execute(db);
  return { ok: true, timestamp: ts, duplicate: false };
}

async function deleteWhere(
  db: Kysely<OfflineTables>,
  recipient: string,
  capabilities: readonly number[] | undefined,
  ts: { upTo: number } | { before: number },
): Promise<number> {
  return await db.transaction().execute(async (trx) => {
    const lock = await sql`SELECT 1 FROM offline_quota WHERE recipient = ${recipient} FOR UPDATE`.execute(
      trx,
    );
    if (lock.rows.length === 0) return 0;
    const bound = "upTo" in ts ? sql`ts <= ${ts.upTo}` : sql`ts < ${ts.before}`;
    const caps =
      capabilities === undefined ? sql`true` : sql`capability = ANY(${intArray(capabilities)}::int[])`;
    const gone = await sql<{ n: unknown; bytes: unknown }>`
      WITH d AS (
        DELETE FROM offline_messages WHERE recipient = ${recipient} AND ${bound} AND ${caps}
        RETURNING coalesce(octet_length(chunk), 0) AS b
      )
      SELECT count(*) AS n, coalesce(sum(b), 0) AS bytes FROM d`.execute(trx);
    const n = num(gone.rows[0]?.n ?? 0);
    if (n > 0) {
      await sql`
        UPDATE offline_quota SET messages = messages - ${n}, bytes = bytes - ${num(gone.rows[0]?.bytes ?? 0)}
        WHERE recipient = ${recipient}`.execute(trx);
    }
    return n;
  });
}

export function createOfflineRepository(store: Pick<Store, "db">): OfflineRepository {
  const db = tablesOf<OfflineTables>(store);
  return {
    async storeMany(messages, limits) {
      if (messages.length === 0) return [];
      // Ledger rows are locked in one order (by recipient) so concurrent batches cannot deadlock.
      const order = messages.map((_, i) => i).sort((a, b) => cmp(messages[a]!.to, messages[b]!.to) || a - b);
      try {
        return await db.transaction().execute(async (trx) => {
          const out: StoreOutcome[] = new Array(messages.length);
          for (const i of order) out[i] = await storeOne(trx, messages[i]!, limits);
          return out;
        });
      } catch (e) {
        if (messages.length === 1) throw e;
        const out: StoreOutcome[] = [];
        for (const m of messages) {
          out.push(await db.transaction().execute((trx) => storeOne(trx, m, limits)));
        }
        return out;
      }
    },

    async page(recipient, capabilities, after, limit) {
      if (capabilities.length === 0) return [];
      const r = await sql<{
        ts: unknown;
        sender: string;
        capability: number;
        message_id: Uint8Array;
        message_size: number | null;
        chunk: Uint8Array | null;
        created_at: Uint8Array | null;
      }>`
        SELECT ts, sender, capability, message_id, message_size, chunk, created_at
        FROM offline_messages
        WHERE recipient = ${recipient} AND ts > ${after}
          AND capability = ANY(${intArray(capabilities)}::int[])
        ORDER BY ts
        LIMIT ${Math.max(1, Math.trunc(limit))}`.execute(db);
      return r.rows.map((row) => ({
        from: row.sender,
        to: recipient,
        capability: row.capability,
        messageId: buf(row.message_id)!,
        messageSize: row.message_size ?? undefined,
        chunk: buf(row.chunk),
        createdAt: buf(row.created_at),
        timestamp: num(row.ts),
      }));
    },

    async delete(recipient, capabilities, upTo) {
      if (capabilities.length === 0) return 0;
      return await deleteWhere(db, recipient, capabilities, { upTo });
    },

    async purgeOlderThan(cutoff) {
      const who = await sql<{ recipient: string }>`
        SELECT recipient FROM offline_quota WHERE messages > 0 ORDER BY recipient`.execute(db);
      let n = 0;
      for (const { recipient } of who.rows)
        n += await deleteWhere(db, recipient, undefined, { before: cutoff });
      return n;
    },

    async usage(recipient) {
      const r = await sql<{ messages: number; bytes: unknown }>`
        SELECT messages, bytes FROM offline_quota WHERE recipient = ${recipient}`.execute(db);
      const row = r.rows[0];
      return { messages: row?.messages ?? 0, bytes: num(row?.bytes ?? 0) };
    },
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
