// The write side of the lists (PROTOCOL.md §4.3): each change is one transaction that first locks
// the two accounts' rows (in name order, so two users acting on each other at the same moment
// serialize instead of deadlocking), checks the rules, and writes. The outcome says what happened,
// so the caller can answer and tell the right devices; an error is the protocol's code.
import { ListsError } from "@impp/protocol";
import type { Store } from "@impp/store";
import { sql, type Transaction } from "kysely";
import { RELATIONS, type RosterTables, rosterDb } from "./tables.js";

export type ListName = "contacts" | "allow" | "block";

export type Change<T = object> = ({ ok: true } & T) | { ok: false; code: number; reason: string };

const fail = (code: number, reason: string) => ({ ok: false as const, code, reason });

export interface ListsOptions {
  /** Entries per list (§4.3 [clients]: 1000). */
  limit: number;
}

type Trx = Transaction<RosterTables>;
type Table = (typeof RELATIONS)[number][0];

/** Each relation table's second column (the first is owner). */
const OTHER = Object.fromEntries(RELATIONS.map(([table, , other]) => [table, other])) as Record<
  Table,
  string
>;

export class Lists {
  constructor(
    private readonly store: Pick<Store, "db">,
    private readonly opts: ListsOptions,
  ) {}

  /** Runs `fn` in a transaction holding both accounts' rows; refuses oneself and unknown accounts. */
  private async pair<T>(
    me: string,
    target: string,
    fn: (trx: Trx) => Promise<Change<T>>,
  ): Promise<Change<T>> {
    if (me === target) return fail(ListsError.ADDRESS_CONFLICT, "that is yourself");
    return rosterDb(this.store)
      .transaction()
      .execute(async (trx) => {
        const names = [me, target].sort();
        const locked = await sql<{ name: string }>`
          SELECT name FROM accounts WHERE name = ANY(${names}) ORDER BY name FOR UPDATE`.execute(trx);
        if (!locked.rows.some((r) => r.name === target)) {
          return fail(ListsError.ADDRESS_INVALID, `no account ${target}`);
        }
        if (!locked.rows.some((r) => r.name === me))
          return fail(ListsError.ADDRESS_INVALID, `no account ${me}`);
        return fn(trx);
      });
  }

  private async count(trx: Trx, table: "roster_contacts" | "roster_allow" | "roster_block", owner: string) {
    const r = await trx
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("owner", "=", owner)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  private async has(
    trx: Trx,
    table: "roster_contacts" | "roster_approvals" | "roster_pending" | "roster_allow" | "roster_block",
    owner: string,
    other: string,
  ): Promise<boolean> {
    const column =
      table === "roster_contacts"
        ? "contact"
        : table === "roster_approvals"
          ? "watcher"
          : table === "roster_pending"
            ? "requester"
            : "address";
    const r = await sql<{ one: number }>`
      SELECT 1 AS one FROM ${sql.table(table)} WHERE owner = ${owner} AND ${sql.ref(column)} = ${other}`.execute(
      trx,
    );
    return r.rows.length > 0;
  }

  /** Deletes the relation (owner, other) from `table`; whether there was one. */
  private async drop(trx: Trx, table: Table, owner: string, other: string): Promise<boolean> {
    const r =
      await sql`DELETE FROM ${sql.table(table)} WHERE owner = ${owner} AND ${sql.ref(OTHER[table])} = ${other}`.execute(
        trx,
      );
    return (r.numAffectedRows ?? 0n) > 0n;
  }

  /**
   * CONTACT_ADD: `target` joins my contacts. Unless they approved me already, an authorization
   * request is filed with them — silently not when they block me (a blocked user learns nothing).
   */
  contactAdd(
    me: string,
    target: string,
    nickname: string,
  ): Promise<Change<{ authRequested: boolean; approved: boolean }>> {
    return this.pair(me, target, async (trx) => {
      if (await this.has(trx, "roster_block", me, target))
        return fail(ListsError.ADDRESS_CONFLICT, "blocked by you");
      if (await this.has(trx, "roster_contacts", me, target))
        return fail(ListsError.ADDRESS_EXISTS, "already a contact");
      if ((await this.count(trx, "roster_contacts", me)) >= this.opts.limit) {
        return fail(ListsError.LIST_LIMIT_EXCEEDED, `contact list holds ${this.opts.limit}`);
      }
      await trx
        .insertInto("roster_contacts")
        .values({ owner: me, contact: target, nickname: nickname === "" ? null : nickname })
        .execute();
      const approved = await this.has(trx, "roster_approvals", target, me);
      let authRequested = false;
      if (!approved && !(await this.has(trx, "roster_block", target, me))) {
        await trx
          .insertInto("roster_pending")
          .values({ owner: target, requester: me, nickname: nickname === "" ? null : nickname })
          .onConflict((oc) => oc.columns(["owner", "requester"]).doNothing())
          .execute();
        authRequested = true;
      }
      return { ok: true, authRequested, approved };
    });
  }

  /** CONTACT_REMOVE: out of my contacts; my pending request to them withdrawn; my approval of them revoked. */
  contactRemove(me: string, target: string): Promise<Change<{ revoked: boolean }>> {
    return this.pair(me, target, async (trx) => {
      const gone = await trx
        .deleteFrom("roster_contacts")
        .where("owner", "=", me)
        .where("contact", "=", target)
        .executeTakeFirst();
      if (gone.numDeletedRows === 0n) return fail(ListsError.ADDRESS_DOES_NOT_EXIST, "not a contact");
      await trx
        .deleteFrom("roster_pending")
        .where("owner", "=", target)
        .where("requester", "=", me)
        .execute();
      const revoked = await trx
        .deleteFrom("roster_approvals")
        .where("owner", "=", me)
        .where("watcher", "=", target)
        .executeTakeFirst();
      return { ok: true, revoked: revoked.numDeletedRows > 0n };
    });
  }

  /** CONTACT_AUTH_REQUEST: ask again. `filed` is false when they approved me already or block me. */
  authRequest(me: string, target: string): Promise<Change<{ filed: boolean }>> {
    return this.pair(me, target, async (trx) => {
      if (!(await this.has(trx, "roster_contacts", me, target))) {
        return fail(ListsError.ADDRESS_DOES_NOT_EXIST, "not a contact");
      }
      if (
        (await this.has(trx, "roster_approvals", target, me)) ||
        (await this.has(trx, "roster_block", target, me))
      ) {
        return { ok: true, filed: false };
      }
      const nick = await trx
        .selectFrom("roster_contacts")
        .select("nickname")
        .where("owner", "=", me)
        .where("contact", "=", target)
        .executeTakeFirst();
      await trx
        .insertInto("roster_pending")
        .values({ owner: target, requester: me, nickname: nick?.nickname ?? null })
        .onConflict((oc) => oc.columns(["owner", "requester"]).doNothing())
        .execute();
      return { ok: true, filed: true };
    });
  }

  /**
   * CONTACT_APPROVE: a pending request becomes an approval. Approving someone approved already is
   * accepted and changes nothing (`changed` false): a double approve ends in one approval.
   */
  approve(me: string, target: string): Promise<Change<{ changed: boolean }>> {
    return this.pair(me, target, async (trx) => {
      if (!(await this.drop(trx, "roster_pending", me, target))) {
        if (await this.has(trx, "roster_approvals", me, target)) return { ok: true, changed: false };
        return fail(ListsError.ADDRESS_DOES_NOT_EXIST, "no request from them");
      }
      await trx
        .insertInto("roster_approvals")
        .values({ owner: me, watcher: target })
        .onConflict((oc) => oc.columns(["owner", "watcher"]).doNothing())
        .execute();
      return { ok: true, changed: true };
    });
  }

  /** CONTACT_DENY: the request is dropped; they are not told. */
  deny(me: string, target: string): Promise<Change> {
    return this.pair(me, target, async (trx) => {
      if (!(await this.drop(trx, "roster_pending", me, target))) {
        return fail(ListsError.ADDRESS_DOES_NOT_EXIST, "no request from them");
      }
      return { ok: true };
    });
  }

  /** ALLOW_ADD / BLOCK_ADD. A block also drops any request between the two: neither side sees it any longer. */
  add(list: "allow" | "block", me: string, target: string): Promise<Change> {
    const table = list === "allow" ? "roster_allow" : "roster_block";
    return this.pair(me, target, async (trx) => {
      if (await this.has(trx, table, me, target))
        return fail(ListsError.ADDRESS_EXISTS, `already on your ${list} list`);
      if ((await this.count(trx, table, me)) >= this.opts.limit) {
        return fail(ListsError.LIST_LIMIT_EXCEEDED, `${list} list holds ${this.opts.limit}`);
      }
      await trx.insertInto(table).values({ owner: me, address: target }).execute();
      if (list === "block") {
        await trx
          .deleteFrom("roster_pending")
          .where("owner", "=", me)
          .where("requester", "=", target)
          .execute();
      }
      return { ok: true };
    });
  }

  /** ALLOW_REMOVE / BLOCK_REMOVE. */
  remove(list: "allow" | "block", me: string, target: string): Promise<Change> {
    const table = list === "allow" ? "roster_allow" : "roster_block";
    return this.pair(me, target, async (trx) => {
      const gone = await trx
        .deleteFrom(table)
        .where("owner", "=", me)
        .where("address", "=", target)
        .executeTakeFirst();
      if (gone.numDeletedRows === 0n)
        return fail(ListsError.ADDRESS_DOES_NOT_EXIST, `not on your ${list} list`);
      return { ok: true };
    });
  }

  /** Nickname and whether they approved me, for the auth-request indication. */
  async contactNickname(me: string, target: string): Promise<string> {
    const r = await rosterDb(this.store)
      .selectFrom("roster_contacts")
      .select("nickname")
      .where("owner", "=", me)
      .where("contact", "=", target)
      .executeTakeFirst();
    return r?.nickname ?? "";
  }
}
