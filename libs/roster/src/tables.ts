// The roster's tables. Every relation is a pair of accounts, both foreign keys to accounts(name) ON
// DELETE CASCADE (a removed account's rows go with it), unique per pair (the primary key is what
// answers ADDRESS_EXISTS), never oneself (a CHECK). The reverse-direction indexes serve the
// "who approved / allows / blocks me" halves of a user's relations.
import { type MigrationSet, type Store, tablesOf } from "@impp/store";
import { type ColumnType, type Kysely, sql } from "kysely";

type Created = ColumnType<Date, Date | undefined, never>;

export interface RosterTables {
  /** My contact list: owner lists contact. */
  roster_contacts: { owner: string; contact: string; nickname: string | null; created_at: Created };
  /** owner approved watcher: watcher may see owner's presence. */
  roster_approvals: { owner: string; watcher: string; created_at: Created };
  /** requester waits for owner's approval. */
  roster_pending: { owner: string; requester: string; nickname: string | null; created_at: Created };
  /** owner's allow list: address sees owner while owner is invisible. */
  roster_allow: { owner: string; address: string; created_at: Created };
  /** owner's block list. */
  roster_block: { owner: string; address: string; created_at: Created };
}

export type RosterDb = Kysely<RosterTables>;

export function rosterDb(store: Pick<Store, "db">): RosterDb {
  return tablesOf<RosterTables>(store);
}

/** The five relation tables: name, the owner column, the other column. */
export const RELATIONS = [
  ["roster_contacts", "owner", "contact"],
  ["roster_approvals", "owner", "watcher"],
  ["roster_pending", "owner", "requester"],
  ["roster_allow", "owner", "address"],
  ["roster_block", "owner", "address"],
] as const;

const account = (column: string) =>
  sql.raw(`${column} text COLLATE "C" NOT NULL REFERENCES accounts(name) ON DELETE CASCADE`);

export const rosterMigrations: MigrationSet = {
  table: "roster_migration",
  list: [
    {
      name: "0001_relations",
      async up(db) {
        for (const [table, owner, other] of RELATIONS) {
          const extra =
            table === "roster_contacts" || table === "roster_pending"
              ? sql.raw("nickname text,")
              : sql.raw("");
          await sql`
            CREATE TABLE ${sql.table(table)} (
              ${account(owner)},
              ${account(other)},
              ${extra}
              created_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (${sql.ref(owner)}, ${sql.ref(other)}),
              CHECK (${sql.ref(owner)} <> ${sql.ref(other)})
            )`.execute(db);
          await sql`CREATE INDEX ${sql.id(`${table}_by_${other}`)} ON ${sql.table(table)} (${sql.ref(other)})`.execute(
            db,
          );
        }
      },
    },
  ],
};
