// Account administration for the `impp user` command and the local admin endpoint. Not the hot path.
import { normalizeAddress } from "@impp/protocol";
import type { Store } from "@impp/store";
import { isStoreError, tablesOf } from "@impp/store";
import { type AccountsTables, createAccountsRepository } from "./accounts.js";
import { hashPassword, MAX_PASSWORD_BYTES } from "./passwords.js";

export type AdminErrorCode = "NAME_INVALID" | "ACCOUNT_EXISTS" | "NOT_FOUND" | "PASSWORD_INVALID";

/** One account of a bulk import: its line in the input file, a name and an argon2id PHC hash. */
export interface ImportEntry {
  line: number;
  name: string;
  hash: string;
}

export type ImportErrorCode = "NAME_INVALID" | "ACCOUNT_EXISTS" | "HASH_INVALID" | "DUPLICATE";

export interface ImportProblem {
  line: number;
  code: ImportErrorCode;
  message: string;
}

/**
 * All or nothing: either every account was created (`added`, and with skipExisting the names left
 * alone because they existed), or none was and `problems` names every line at fault.
 */
export type ImportResult =
  | { ok: true; added: number; skipped: string[] }
  | { ok: false; problems: ImportProblem[] };

/** What `impp user show` prints: an account, its lists, and its presence when the live state is reachable. */
export interface UserDetails {
  name: string;
  createdAt: string;
  disabled: boolean;
  /** My contacts: `approvedMe` = they let me see them; `approvedByMe` = I let them see me. */
  contacts: Array<{ name: string; nickname: string; approvedMe: boolean; approvedByMe: boolean }>;
  /** Users waiting for my approval. */
  pending: string[];
  allow: string[];
  blocks: string[];
  /** undefined: the live state was not reachable from where this was asked. */
  presence?: {
    status: string;
    statusMessage: string;
    devices: Array<{ name: string; client: string; status: string; idle: boolean; mobile: boolean }>;
  };
  /** Why presence is missing, when it is. */
  presenceUnavailable?: string;
}

/**
 * An argon2id PHC string whose parameters a login can afford: a hash imported with a huge memory or
 * time cost would make every login of that account (and every guess at it) a denial of service.
 */
export function isArgon2idHash(s: string): boolean {
  const m =
    /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,3})\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$/.exec(s);
  if (m === null) return false;
  const [mem, t, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return mem >= 8 * p && mem <= 262_144 && t >= 1 && t <= 16 && p >= 1 && p <= 16;
}

export type AdminResult<T> = { ok: true; value: T } | { ok: false; code: AdminErrorCode; message: string };

export interface AccountSummary {
  name: string;
  createdAt: Date;
  disabled: boolean;
}

export interface AccountsAdmin {
  /** Creates the account; the value is the canonical name. */
  add(name: string, password: string): Promise<AdminResult<string>>;
  passwd(name: string, password: string): Promise<AdminResult<string>>;
  remove(name: string): Promise<AdminResult<string>>;
  /** Every account, by name. */
  list(): Promise<AccountSummary[]>;
  /** Many accounts with ready-made hashes, in one transaction (see ImportResult). */
  importHashes(entries: readonly ImportEntry[], opts?: { skipExisting?: boolean }): Promise<ImportResult>;
  /** The account with its lists and presence; mounted where the lists and live state are at hand. */
  show?(name: string): Promise<AdminResult<UserDetails>>;
}

export interface AccountsAdminOptions {
  /** The server's domain, so "bob@<domain>" is accepted as bob. */
  domain?: string;
}

function fail<T>(code: AdminErrorCode, message: string): AdminResult<T> {
  return { ok: false, code, message };
}

function checkPassword(password: unknown): string | undefined {
  if (typeof password !== "string" || password.length === 0) return "the password is empty";
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES)
    return `the password is over ${MAX_PASSWORD_BYTES} bytes`;
  return undefined;
}

const PAGE = 1000;
/** Rows per INSERT of an import (well under Postgres's 65535 bind parameters). */
const IMPORT_BATCH = 1000;

class ImportConflict {
  constructor(readonly existing: readonly string[]) {}
}

export function createAccountsAdmin(
  store: Pick<Store, "db">,
  opts: AccountsAdminOptions = {},
): AccountsAdmin {
  const accounts = createAccountsRepository(store);
  const canonical = (name: unknown): string | undefined =>
    typeof name === "string" ? normalizeAddress(name, opts.domain) : undefined;
  const nameProblem = (name: unknown) =>
    `${JSON.stringify(name)} is not an account name (1–64 characters of a-z 0-9 . _ -)`;
  const badName = (name: unknown) => fail<string>("NAME_INVALID", nameProblem(name));

  return {
    async add(name, password) {
      const n = canonical(name);
      if (n === undefined) return badName(name);
      const problem = checkPassword(password);
      if (problem !== undefined) return fail("PASSWORD_INVALID", problem);
      const created = await accounts.create(n, await hashPassword(password));
      if (isStoreError(created, "ACCOUNT_EXISTS"))
        return fail("ACCOUNT_EXISTS", `account ${n} already exists`);
      if (isStoreError(created)) throw created;
      return { ok: true, value: created.name };
    },

    async passwd(name, password) {
      const n = canonical(name);
      if (n === undefined) return badName(name);
      const problem = checkPassword(password);
      if (problem !== undefined) return fail("PASSWORD_INVALID", problem);
      const changed = await accounts.setPasswordHash(n, await hashPassword(password));
      return changed ? { ok: true, value: n } : fail("NOT_FOUND", `no account ${n}`);
    },

    async remove(name) {
      const n = canonical(name);
      if (n === undefined) return badName(name);
      return (await accounts.remove(n)) ? { ok: true, value: n } : fail("NOT_FOUND", `no account ${n}`);
    },

    async importHashes(entries, opts = {}) {
      const problems: ImportProblem[] = [];
      const firstLine = new Map<string, number>();
      const rows: Array<{ line: number; name: string; password_hash: string }> = [];
      for (const e of entries) {
        const n = canonical(e.name);
        if (n === undefined) {
          problems.push({ line: e.line, code: "NAME_INVALID", message: nameProblem(e.name) });
          continue;
        }
        if (typeof e.hash !== "string" || !isArgon2idHash(e.hash)) {
          problems.push({
            line: e.line,
            code: "HASH_INVALID",
            message:
              "not an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash) with m ≤ 262144, t ≤ 16, p ≤ 16",
          });
          continue;
        }
        const seen = firstLine.get(n);
        if (seen !== undefined) {
          problems.push({ line: e.line, code: "DUPLICATE", message: `${n} is already on line ${seen}` });
          continue;
        }
        firstLine.set(n, e.line);
        rows.push({ line: e.line, name: n, password_hash: e.hash });
      }
      if (problems.length > 0) return { ok: false, problems: problems.sort((a, b) => a.line - b.line) };
      const db = tablesOf<AccountsTables>(store);
      try {
        const skipped = await db.transaction().execute(async (trx) => {
          const existing: string[] = [];
          for (let i = 0; i < rows.length; i += IMPORT_BATCH) {
            const batch = rows.slice(i, i + IMPORT_BATCH);
            const inserted = await trx
              .insertInto("accounts")
              .values(batch.map(({ name, password_hash }) => ({ name, password_hash })))
              .onConflict((oc) => oc.column("name").doNothing())
              .returning("name")
              .execute();
            const got = new Set(inserted.map((r) => r.name));
            for (const r of batch) if (!got.has(r.name)) existing.push(r.name);
          }
          // Rolls the whole import back: nothing half done to redo by hand.
          if (existing.length > 0 && opts.skipExisting !== true) throw new ImportConflict(existing);
          return existing;
        });
        return { ok: true, added: rows.length - skipped.length, skipped };
      } catch (e) {
        if (!(e instanceof ImportConflict)) throw e;
        return {
          ok: false,
          problems: e.existing.map((n) => ({
            line: firstLine.get(n)!,
            code: "ACCOUNT_EXISTS" as const,
            message: `account ${n} already exists`,
          })),
        };
      }
    },

    async list() {
      const out: AccountSummary[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await accounts.list(after === undefined ? { limit: PAGE } : { limit: PAGE, after });
        for (const a of page) out.push({ name: a.name, createdAt: a.createdAt, disabled: a.disabled });
        if (page.length < PAGE) return out;
        after = page[page.length - 1]!.name;
      }
    },
  };
}
