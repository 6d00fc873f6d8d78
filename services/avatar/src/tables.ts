// The avatar module's tables. Images are content-addressed: one row per distinct image however many
// users upload it (the SHA-1 is the key). Which user shows which image is a row per user with a
// foreign key to the image (so an image in use cannot be deleted: the sweep's DELETE fails rather
// than removing it) and to accounts(name) ON DELETE CASCADE (a removed account stops using it).
import { type MigrationSet, type Store, tablesOf } from "@impp/store";
import { type ColumnType, type Kysely, sql } from "kysely";

export interface AvatarTables {
  avatar_images: {
    /** The SHA-1 of `data`, 20 bytes. */
    sha1: Buffer;
    data: Buffer;
    /** Last time anyone uploaded it: the sweep spares images uploaded within its interval. */
    uploaded_at: ColumnType<Date, Date | undefined, Date>;
  };
  avatar_users: {
    account: string;
    sha1: Buffer;
    set_at: ColumnType<Date, Date | undefined, Date>;
  };
}

export type AvatarDb = Kysely<AvatarTables>;

export function avatarDb(store: Pick<Store, "db">): AvatarDb {
  return tablesOf<AvatarTables>(store);
}

export const avatarMigrations: MigrationSet = {
  table: "avatar_migration",
  list: [
    {
      name: "0001_avatars",
      async up(db) {
        await sql`
          CREATE TABLE avatar_images (
            sha1 bytea PRIMARY KEY CHECK (octet_length(sha1) = 20),
            data bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 65535),
            uploaded_at timestamptz NOT NULL DEFAULT now()
          )`.execute(db);
        await sql`
          CREATE TABLE avatar_users (
            account text COLLATE "C" PRIMARY KEY REFERENCES accounts(name) ON DELETE CASCADE,
            sha1 bytea NOT NULL REFERENCES avatar_images(sha1),
            set_at timestamptz NOT NULL DEFAULT now()
          )`.execute(db);
        await sql`CREATE INDEX avatar_users_by_sha1 ON avatar_users (sha1)`.execute(db);
      },
    },
  ],
};
