// The write and read side of group chats. Every change to one group is a transaction that first
// locks the group's row (FOR UPDATE, or the UPDATE of its clock), so membership changes and messages
// of one group are serialized in the database whichever process makes them; the outcome says what
// happened so the caller can answer and tell the right devices, or which protocol error it is.
import { GlobalError, GroupChatsError } from "@impp/protocol";
import type { Store } from "@impp/store";
import { sql, type Transaction } from "kysely";
import { type GroupTables, groupDb } from "./tables.js";

export type Change<T = object> = ({ ok: true } & T) | { ok: false; code: number; reason: string };

const fail = (code: number, reason: string) => ({ ok: false as const, code, reason });

export interface GroupLimits {
  /** Members per group (IMPP_GROUP_MAX_MEMBERS). */
  maxMembers: number;
  /** Groups one user may belong to (IMPP_GROUPS_PER_USER). */
  perUser: number;
}

/** What a GROUP_CHAT_TUPLE shows: the name, the members in joining order, the group's timestamp. */
export interface GroupView {
  name: string;
  members: string[];
  /** The group's clock: its creation, then its last message (ms). */
  timestamp: number;
}

export interface StoredMessage {
  group: string;
  ts: number;
  sender: string;
  body: Buffer;
}

type Trx = Transaction<GroupTables>;

/** Thrown inside a transaction to roll it back with a protocol error. */
class Refusal extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const buf = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export class Groups {
  constructor(
    private readonly store: Pick<Store, "db">,
    private readonly limits: GroupLimits,
    private readonly now: () => number = Date.now,
  ) {}

  private async tx<T>(fn: (trx: Trx) => Promise<T>): Promise<Change<T>> {
    try {
      const value = await groupDb(this.store).transaction().execute(fn);
      return { ok: true, ...value } as Change<T>;
    } catch (err) {
      if (err instanceof Refusal) return fail(err.code, err.reason);
      throw err;
    }
  }

  /** Locks the group's row; its clock, or a refusal when there is no such group or I am not in it. */
  private async lockAsMember(
    trx: Trx,
    name: string,
    me: string,
  ): Promise<{ lastTs: number; members: string[] }> {
    const g = await sql<{ last_ts: string }>`
      SELECT last_ts FROM groupchat_groups WHERE name = ${name} FOR UPDATE`.execute(trx);
    if (g.rows.length === 0) throw new Refusal(GlobalError.INVALID_STATE, `no group ${name}`);
    const members = await this.membersIn(trx, name);
    if (!members.includes(me)) throw new Refusal(GlobalError.INVALID_STATE, `${me} is not in ${name}`);
    return { lastTs: Number(g.rows[0]!.last_ts), members };
  }

  private async membersIn(trx: Trx, name: string): Promise<string[]> {
    const rows = await trx
      .selectFrom("groupchat_members")
      .select("account")
      .where("group_name", "=", name)
      .orderBy("seq")
      .execute();
    return rows.map((r) => r.account);
  }

  /** Refuses when any of `accounts` already belongs to the most groups allowed. */
  private async checkPerUser(trx: Trx, accounts: readonly string[]): Promise<void> {
    if (accounts.length === 0) return;
    const rows = await trx
      .selectFrom("groupchat_members")
      .select(["account", (eb) => eb.fn.countAll<string>().as("n")])
      .where("account", "in", accounts)
      .groupBy("account")
      .execute();
    const full = rows.find((r) => Number(r.n) >= this.limits.perUser);
    if (full !== undefined)
      throw new Refusal(GlobalError.INVALID_STATE, `${full.account} is in too many groups`);
  }

  /**
   * SET: creates `name` with me and `members` (already checked to be my contacts; duplicates and
   * myself dropped), or — when it exists and I am in it — changes nothing. A name another group has
   * is INVALID_TLV_VALUE; a member that is no account is MEMBER_NOT_CONTACT.
   */
  async create(
    name: string,
    me: string,
    members: readonly string[],
    notContact: readonly string[] = [],
  ): Promise<Change<{ group: GroupView; created: boolean }>> {
    const others = [...new Set(members)].filter((m) => m !== me);
    return this.tx(async (trx) => {
      const ts = this.now();
      const inserted = await sql<{ name: string }>`
        INSERT INTO groupchat_groups (name, last_ts) VALUES (${name}, ${ts})
        ON CONFLICT (name) DO NOTHING RETURNING name`.execute(trx);
      if (inserted.rows.length === 0) {
        const g = await sql<{ last_ts: string }>`
          SELECT last_ts FROM groupchat_groups WHERE name = ${name} FOR SHARE`.execute(trx);
        const current = await this.membersIn(trx, name);
        if (g.rows.length === 0 || !current.includes(me)) {
          throw new Refusal(GlobalError.INVALID_TLV_VALUE, `the name ${name} is taken`);
        }
        return { group: { name, members: current, timestamp: Number(g.rows[0]!.last_ts) }, created: false };
      }
      if (notContact.length > 0) {
        throw new Refusal(GroupChatsError.MEMBER_NOT_CONTACT, `${notContact[0]} is not my contact`);
      }
      const all = [me, ...others];
      if (all.length > this.limits.maxMembers) {
        throw new Refusal(GlobalError.INVALID_STATE, `more than ${this.limits.maxMembers} members`);
      }
      const known = await sql<{ name: string }>`SELECT name FROM accounts WHERE name = ANY(${all})`.execute(
        trx,
      );
      const missing = all.find((a) => !known.rows.some((r) => r.name === a));
      if (missing !== undefined)
        throw new Refusal(GroupChatsError.MEMBER_NOT_CONTACT, `no account ${missing}`);
      await this.checkPerUser(trx, all);
      await trx
        .insertInto("groupchat_members")
        .values(all.map((account) => ({ group_name: name, account, joined_ts: ts })))
        .execute();
      return { group: { name, members: all, timestamp: ts }, created: true };
    });
  }

  /** GET: the groups I belong to, by name. */
  async groupsOf(me: string): Promise<GroupView[]> {
    const rows = await sql<{ name: string; last_ts: string; account: string }>`
      SELECT g.name, g.last_ts, m.account
      FROM groupchat_members mine
      JOIN groupchat_groups g ON g.name = mine.group_name
      JOIN groupchat_members m ON m.group_name = g.name
      WHERE mine.account = ${me}
      ORDER BY g.name, m.seq`.execute(groupDb(this.store));
    const out: GroupView[] = [];
    for (const r of rows.rows) {
      let g = out.at(-1);
      if (g?.name !== r.name) {
        g = { name: r.name, members: [], timestamp: Number(r.last_ts) };
        out.push(g);
      }
      g.members.push(r.account);
    }
    return out;
  }

  /**
   * MEMBER_ADD: I must be in the group (INVALID_STATE), `member` must not be (MEMBER_ALREADY_EXISTS)
   * and must be my contact with no block either way (`isContact`, judged by the caller from the
   * roster: MEMBER_NOT_CONTACT); then the limits.
   */
  async add(
    name: string,
    me: string,
    member: string,
    isContact: boolean,
  ): Promise<Change<{ group: GroupView }>> {
    return this.tx(async (trx) => {
      const { lastTs, members } = await this.lockAsMember(trx, name, me);
      if (members.includes(member)) {
        throw new Refusal(GroupChatsError.MEMBER_ALREADY_EXISTS, `${member} is in ${name} already`);
      }
      if (!isContact) throw new Refusal(GroupChatsError.MEMBER_NOT_CONTACT, `${member} is not my contact`);
      if (members.length >= this.limits.maxMembers) {
        throw new Refusal(GlobalError.INVALID_STATE, `${name} has ${members.length} members`);
      }
      await this.checkPerUser(trx, [member]);
      const known = await sql`SELECT 1 FROM accounts WHERE name = ${member}`.execute(trx);
      if (known.rows.length === 0)
        throw new Refusal(GroupChatsError.MEMBER_NOT_CONTACT, `no account ${member}`);
      await trx
        .insertInto("groupchat_members")
        .values({ group_name: name, account: member, joined_ts: lastTs })
        .execute();
      return { group: { name, members: [...members, member], timestamp: lastTs } };
    });
  }

  /**
   * MEMBER_REMOVE: I must be in the group, and so must `member` (myself = leave; any member may
   * remove another). `before` is the membership before the change (who is told); when nobody is
   * left the group and its history are deleted.
   */
  async remove(
    name: string,
    me: string,
    member: string,
  ): Promise<Change<{ before: string[]; deleted: boolean }>> {
    return this.tx(async (trx) => {
      const { members } = await this.lockAsMember(trx, name, me);
      if (!members.includes(member)) {
        throw new Refusal(GlobalError.INVALID_TLV_VALUE, `${member} is not in ${name}`);
      }
      await trx
        .deleteFrom("groupchat_members")
        .where("group_name", "=", name)
        .where("account", "=", member)
        .execute();
      const deleted = members.length === 1;
      if (deleted) await trx.deleteFrom("groupchat_groups").where("name", "=", name).execute();
      return { before: members, deleted };
    });
  }

  /**
   * MESSAGE_SEND: stores the message under the group's next timestamp — GREATEST(last + 1, now),
   * taken under the row's lock, so strictly increasing per group and committed in that order.
   * Returns it with the members at that moment (who get it).
   */
  async send(name: string, me: string, body: Buffer): Promise<Change<{ ts: number; members: string[] }>> {
    return this.tx(async (trx) => {
      const now = this.now();
      const clock = await sql<{ last_ts: string }>`
        UPDATE groupchat_groups SET last_ts = GREATEST(last_ts + 1, ${now}) WHERE name = ${name}
        RETURNING last_ts`.execute(trx);
      if (clock.rows.length === 0) throw new Refusal(GlobalError.INVALID_STATE, `no group ${name}`);
      const members = await this.membersIn(trx, name);
      if (!members.includes(me)) throw new Refusal(GlobalError.INVALID_STATE, `${me} is not in ${name}`);
      const ts = Number(clock.rows[0]!.last_ts);
      await trx.insertInto("groupchat_messages").values({ group_name: name, ts, sender: me, body }).execute();
      return { ts, members };
    });
  }

  /**
   * The messages of my groups newer than `since`, stored while I was a member, in stored order
   * (per group by timestamp; groups interleaved by timestamp, then name). Keyset pages of `page`.
   */
  async *history(me: string, since: number, page = 500): AsyncGenerator<StoredMessage[]> {
    let after: { ts: number; group: string } = { ts: since, group: "" };
    for (;;) {
      const rows = await sql<{ group_name: string; ts: string; sender: string; body: Uint8Array }>`
        SELECT msg.group_name, msg.ts, msg.sender, msg.body
        FROM groupchat_members mine
        JOIN groupchat_messages msg ON msg.group_name = mine.group_name
        WHERE mine.account = ${me} AND msg.ts > mine.joined_ts AND msg.ts > ${since}
          AND (msg.ts, msg.group_name) > (${after.ts}, ${after.group})
        ORDER BY msg.ts, msg.group_name
        LIMIT ${page}`.execute(groupDb(this.store));
      if (rows.rows.length === 0) return;
      yield rows.rows.map((r) => ({
        group: r.group_name,
        ts: Number(r.ts),
        sender: r.sender,
        body: buf(r.body),
      }));
      const last = rows.rows.at(-1)!;
      after = { ts: Number(last.ts), group: last.group_name };
      if (rows.rows.length < page) return;
    }
  }

  /** History retention: messages older than `before` go, and groups nobody is in (accounts removed). */
  async prune(before: number | undefined): Promise<{ messages: number; groups: number }> {
    const db = groupDb(this.store);
    let messages = 0;
    if (before !== undefined) {
      const r = await db.deleteFrom("groupchat_messages").where("ts", "<", before).executeTakeFirst();
      messages = Number(r.numDeletedRows);
    }
    const g = await sql`
      DELETE FROM groupchat_groups g
      WHERE NOT EXISTS (SELECT 1 FROM groupchat_members m WHERE m.group_name = g.name)`.execute(db);
    return { messages, groups: Number(g.numAffectedRows ?? 0) };
  }
}
