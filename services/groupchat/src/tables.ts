// The group-chat module's tables. A group is a row keyed by its client-chosen name; its members and
// its history refer to it with ON DELETE CASCADE (the last member leaving deletes all of it) and to
// accounts(name) ON DELETE CASCADE. `last_ts` is the group's clock: every message takes
// GREATEST(last_ts + 1, now) under the group row's lock, so timestamps are strictly increasing per
// group and commit in timestamp order — GET + TIMESTAMP never misses or repeats a message.
import { type MigrationSet, type Store, tablesOf } from "@impp/store";
import { type ColumnType, type Kysely, sql } from "kysely";

type Created = ColumnType<Date, Date | undefined, never>;
/** bigint columns come back as strings from pg; always written as numbers. */
type Millis = ColumnType<string | number, number, number>;

export interface GroupTables {
  groupchat_groups: { name: string; created_at: Created; last_ts: Millis };
  groupchat_members: {
    group_name: string;
    account: string;
    joined_ts: Millis;
    seq: ColumnType<string, never, never>;
    joined_at: Created;
  };
  groupchat_messages: { group_name: string; ts: Millis; sender: string; body: Buffer };
}

export type GroupDb = Kysely<GroupTables>;

export function groupDb(store: Pick<Store, "db">): GroupDb {
  return tablesOf<GroupTables>(store);
}

const account = (column: string) =>
  sql.raw(`${column} text COLLATE "C" NOT NULL REFERENCES accounts(name) ON DELETE CASCADE`);
const group = sql.raw(
  `group_name text COLLATE "C" NOT NULL REFERENCES groupchat_groups(name) ON DELETE CASCADE`,
);

export const groupMigrations: MigrationSet = {
  table: "groupchat_migration",
  list: [
    {
      name: "0001_groups",
      async up(db) {
        await sql`
          CREATE TABLE groupchat_groups (
            name text COLLATE "C" PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 64),
            created_at timestamptz NOT NULL DEFAULT now(),
            last_ts bigint NOT NULL
          )`.execute(db);
        await sql`
          CREATE TABLE groupchat_members (
            ${group},
            ${account("account")},
            joined_ts bigint NOT NULL,
            -- joining order (the tuple lists members in it); several join in one statement at SET
            seq bigint GENERATED ALWAYS AS IDENTITY,
            joined_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (group_name, account)
          )`.execute(db);
        await sql`CREATE INDEX groupchat_members_by_account ON groupchat_members (account)`.execute(db);
        await sql`
          CREATE TABLE groupchat_messages (
            ${group},
            ts bigint NOT NULL,
            ${account("sender")},
            body bytea NOT NULL,
            PRIMARY KEY (group_name, ts)
          )`.execute(db);
        await sql`CREATE INDEX groupchat_messages_by_ts ON groupchat_messages (ts)`.execute(db);
      },
    },
  ],
};
