// Account administration for the `impp user` command and the local admin endpoint. Not the hot path.
import { normalizeAddress } from "@impp/protocol";
import type { Store } from "@impp/store";
import { isStoreError } from "@impp/store";
import { createAccountsRepository } from "./accounts.js";
import { hashPassword, MAX_PASSWORD_BYTES } from "./passwords.js";

export type AdminErrorCode = "NAME_INVALID" | "ACCOUNT_EXISTS" | "NOT_FOUND" | "PASSWORD_INVALID";

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

export function createAccountsAdmin(
  store: Pick<Store, "db">,
  opts: AccountsAdminOptions = {},
): AccountsAdmin {
  const accounts = createAccountsRepository(store);
  const canonical = (name: unknown): string | undefined =>
    typeof name === "string" ? normalizeAddress(name, opts.domain) : undefined;
  const badName = (name: unknown) =>
    fail<string>(
      "NAME_INVALID",
      `${JSON.stringify(name)} is not an account name (1–64 characters of a-z 0-9 . _ -)`,
    );

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
