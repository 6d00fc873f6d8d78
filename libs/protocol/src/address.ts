// Addresses are account names (PROTOCOL.md §4.3 [decision]): one rule, used by login, lists,
// messaging and group chats alike.
/** PROTOCOL.md §6: names and addresses are at most 64 characters. */
export const ACCOUNT_NAME_MAX = 64;

// ASCII only, checked before lower-casing: String#toLowerCase maps some
// non-ASCII letters onto ASCII ones (U+212A KELVIN SIGN → "k"), which would
// let a look-alike name collide with a real one.
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
// Longest input worth examining: a full name, "@", and a DNS name (253).
const INPUT_MAX = ACCOUNT_NAME_MAX + 1 + 253;

/**
 * The canonical (lower-case) account name for a user-supplied name or
 * address, or undefined when it is not one (PROTOCOL.md §4.3 [decision]):
 * 1–64 characters of a-z 0-9 . _ - in any case, optionally followed by
 * "@domain" when domain is the server's own (compared case-insensitively).
 */
export function normalizeAddress(input: string, domain?: string): string | undefined {
  if (typeof input !== "string" || input.length === 0 || input.length > INPUT_MAX) return undefined;
  let local = input;
  const at = input.indexOf("@");
  if (at !== -1) {
    if (domain === undefined || domain.length === 0) return undefined;
    const given = input.slice(at + 1);
    // Case-fold ASCII only, for the same look-alike reason as names.
    if (!/^[\x21-\x7e]+$/.test(given) || given.toLowerCase() !== domain.toLowerCase()) return undefined;
    local = input.slice(0, at);
  }
  if (!NAME.test(local)) return undefined;
  return local.toLowerCase();
}

/** True when name is already canonical: what the accounts table holds. */
export function isCanonicalAccountName(name: string): boolean {
  return typeof name === "string" && /^[a-z0-9._-]{1,64}$/.test(name);
}
