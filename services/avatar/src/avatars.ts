// The avatar repository: images stored once by SHA-1, which user shows which image, and the sweep
// that removes images nobody shows any longer.
import { createHash } from "node:crypto";
import type { Store } from "@impp/store";
import { sql } from "kysely";
import { avatarDb } from "./tables.js";

export function sha1Of(data: Uint8Array): Buffer {
  return createHash("sha1").update(data).digest();
}

/** bytea comes back as a Buffer from pg and as a Uint8Array from PGlite: a Buffer view either way. */
const buf = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

const FOREIGN_KEY_VIOLATION = "23503";
const isForeignKeyViolation = (err: unknown) =>
  typeof err === "object" && err !== null && (err as { code?: unknown }).code === FOREIGN_KEY_VIOLATION;

export class Avatars {
  constructor(private readonly store: Pick<Store, "db">) {}

  /** Stores the image unless it is there already (then only its upload time is refreshed); its SHA-1. */
  async upload(data: Buffer): Promise<Buffer> {
    const sha1 = sha1Of(data);
    await avatarDb(this.store)
      .insertInto("avatar_images")
      .values({ sha1, data })
      .onConflict((oc) => oc.column("sha1").doUpdateSet({ uploaded_at: sql`now()` }))
      .execute();
    return sha1;
  }

  async get(sha1: Buffer): Promise<Buffer | undefined> {
    const row = await avatarDb(this.store)
      .selectFrom("avatar_images")
      .select("data")
      .where("sha1", "=", sha1)
      .executeTakeFirst();
    return row === undefined ? undefined : buf(row.data);
  }

  /**
   * `account` shows the image `sha1` from now on (undefined: no avatar). false when no such image
   * (never uploaded, or swept) — the foreign key decides, so a sweep running at the same moment
   * either removed it first (false) or cannot remove it (it is in use).
   */
  async set(account: string, sha1: Buffer | undefined): Promise<boolean> {
    const db = avatarDb(this.store);
    if (sha1 === undefined) {
      await db.deleteFrom("avatar_users").where("account", "=", account).execute();
      return true;
    }
    try {
      const r = await sql<{ account: string }>`
        INSERT INTO avatar_users (account, sha1)
        SELECT ${account}, sha1 FROM avatar_images WHERE sha1 = ${sha1}
        ON CONFLICT (account) DO UPDATE SET sha1 = excluded.sha1, set_at = now()
        RETURNING account`.execute(db);
      return r.rows.length === 1;
    } catch (err) {
      if (isForeignKeyViolation(err)) return false;
      throw err;
    }
  }

  /** The image `account` shows, if any. */
  async current(account: string): Promise<Buffer | undefined> {
    const row = await avatarDb(this.store)
      .selectFrom("avatar_users")
      .select("sha1")
      .where("account", "=", account)
      .executeTakeFirst();
    return row === undefined ? undefined : buf(row.sha1);
  }

  /** How many users show `sha1`. */
  async users(sha1: Buffer): Promise<number> {
    const row = await avatarDb(this.store)
      .selectFrom("avatar_users")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("sha1", "=", sha1)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Removes images nobody shows that were last uploaded before `uploadedBefore` (an image just
   * uploaded is spared until its uploader had time to SET it). Each image is deleted on its own:
   * one that a SET took into use meanwhile fails its foreign key and stays. Returns the removed
   * hashes (so caches can drop them).
   */
  async sweep(uploadedBefore: Date, batch = 1000): Promise<Buffer[]> {
    const db = avatarDb(this.store);
    const candidates = await sql<{ sha1: Buffer }>`
      SELECT i.sha1 FROM avatar_images i
      WHERE i.uploaded_at < ${uploadedBefore}
        AND NOT EXISTS (SELECT 1 FROM avatar_users u WHERE u.sha1 = i.sha1)
      LIMIT ${batch}`.execute(db);
    const removed: Buffer[] = [];
    for (const { sha1 } of candidates.rows) {
      try {
        const r = await sql`
          DELETE FROM avatar_images i
          WHERE i.sha1 = ${sha1} AND i.uploaded_at < ${uploadedBefore}
            AND NOT EXISTS (SELECT 1 FROM avatar_users u WHERE u.sha1 = i.sha1)`.execute(db);
        if (Number(r.numAffectedRows ?? 0) > 0) removed.push(buf(sha1));
      } catch (err) {
        if (!isForeignKeyViolation(err)) throw err;
      }
    }
    return removed;
  }

  async count(): Promise<number> {
    const row = await avatarDb(this.store)
      .selectFrom("avatar_images")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
