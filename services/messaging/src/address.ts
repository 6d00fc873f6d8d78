// The account-name rule of PROTOCOL.md §4.3 [decision], as @impp/store's normalizeAccountName applies it.
// Kept here because this package does not depend on the store yet (it will, with offline storage:
// then use normalizeAccountName and delete this file). address.test.ts pins the same cases.

/** PROTOCOL.md §6: names and addresses are at most 64 characters. */
export const ADDRESS_NAME_MAX = 64;

// ASCII only, checked before lower-casing: toLowerCase maps some non-ASCII letters onto ASCII ones
// (U+212A KELVIN SIGN → "k"), which would let a look-alike address reach a real account.
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const INPUT_MAX = ADDRESS_NAME_MAX + 1 + 253;

/** The canonical account for an address ("Bob", "bob@<domain>"), or undefined when it is none. */
export function normalizeAddress(input: string, domain: string): string | undefined {
  if (input.length === 0 || input.length > INPUT_MAX) return undefined;
  let local = input;
  const at = input.indexOf("@");
  if (at !== -1) {
    const given = input.slice(at + 1);
    if (domain === "" || !/^[\x21-\x7e]+$/.test(given) || given.toLowerCase() !== domain.toLowerCase()) {
      return undefined;
    }
    local = input.slice(0, at);
  }
  return NAME.test(local) ? local.toLowerCase() : undefined;
}
