import { randomBytes } from "node:crypto";
import { type Algorithm, hash, verify } from "@node-rs/argon2";

/** Longest password accepted, in UTF-8 bytes: argon2 takes any length, so this bounds the work per attempt. */
export const MAX_PASSWORD_BYTES = 1024;

// OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane). `Algorithm` is a const enum, which
// isolatedModules cannot inline, hence the literal: 2 = Argon2id.
const OPTIONS = { algorithm: 2 as Algorithm, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** An argon2id PHC string for `password`. */
export function hashPassword(password: string | Uint8Array): Promise<string> {
  return hash(password, OPTIONS);
}

/** False for a wrong password and for a hash that is not a valid PHC string (never throws). */
export async function verifyPassword(passwordHash: string, password: string | Uint8Array): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/**
 * A hash with the same parameters as real ones, of a random password nobody knows. Unknown users are
 * verified against it so they cost the same time as known ones: the answer time is no user oracle.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(32)).catch((e: unknown) => {
    dummy = undefined; // let the next attempt try again rather than fail forever
    throw e;
  });
  return dummy;
}
