// STREAM AUTHENTICATE (PROTOCOL.md §4.1): the request → reply function, free of sockets and the bus.
// A malformed request (a missing TLV, a mechanism other than PASSWORD) is answered by the kit from
// authenticateShape before this runs; it is counted in impp_errors_total, not in auth attempts.

import { setTimeout as sleep } from "node:timers/promises";
import type { ReplyEnvelope } from "@impp/bus";
import { ReplyAction } from "@impp/bus";
import type { Config } from "@impp/config";
import {
  ACCOUNT_NAME_MAX,
  GlobalError,
  Mechanism,
  normalizeAddress,
  StreamError,
  StreamTlv,
  TlvWriter,
} from "@impp/protocol";
import { errorReply, type Request, responseFrame, type Shape } from "@impp/service-kit";
import type { SessionStore } from "@impp/sessions";
import type { Account, AccountsRepository } from "./accounts.js";
import { loginAddressBucket } from "./address-key.js";
import { AttemptGate } from "./gate.js";
import { dummyHash, MAX_PASSWORD_BYTES, verifyPassword } from "./passwords.js";

export interface AuthenticateDeps {
  accounts: AccountsRepository;
  sessions: SessionStore;
  config: Pick<Config, "domain" | "limits">;
  /** Server clock in ms (tests); default Date.now. */
  now?: () => number;
  /** Attempts in progress; default one shared by the whole process. */
  gate?: AttemptGate;
}

const sharedGate = new AttemptGate();

/** What happened, for metrics and logs; the wire never tells these apart beyond §4.1's codes. */
export type AuthOutcome = "ok" | "bad_credentials" | "rate_limited" | "address_limited" | "bad_request";

export interface AuthResult {
  reply: ReplyEnvelope;
  outcome: AuthOutcome;
  /** The canonical account the attempt was about, when the name was well formed. */
  account?: string;
  /** A failure answered late by the per-address slow-down. */
  delayedMs?: number;
}

/**
 * How much later a failed login from an address whose `count` distinct accounts have failed is
 * answered: nothing below half the limit, then IMPP_LOGIN_ADDRESS_DELAY_MS per account past the
 * half, at most a quarter of the request timeout (the answer must reach the edge in time).
 */
export function addressDelay(
  count: number,
  limit: number,
  limits: Pick<Config["limits"], "loginAddressDelayMs" | "requestTimeoutMs">,
): number {
  const soft = Math.ceil(limit / 2);
  if (limits.loginAddressDelayMs === 0 || count < soft) return 0;
  return Math.min(limits.loginAddressDelayMs * (count - soft + 1), Math.floor(limits.requestTimeoutMs / 4));
}

/** The longest NAME looked at: a 64-character name, "@", and a 253-byte DNS name. */
const MAX_NAME_BYTES = ACCOUNT_NAME_MAX + 1 + 253;

export const rateKeys = {
  account: (canonical: string) => `login:acct:${canonical}`,
  /** Per bucket of addresses (see loginAddressBucket), not per exact remote address: distinct accounts failed. */
  address: (remoteAddress: string) => `login:addr:${loginAddressBucket(remoteAddress)}`,
  /** An (account, address bucket) pair that logged in successfully. */
  knownGood: (canonical: string, remoteAddress: string) =>
    `login:good:${canonical}:${loginAddressBucket(remoteAddress)}`,
};

/** AUTHENTICATE's TLVs (§4.1), checked by the kit before the handler runs. */
export const authenticateShape = {
  mechanism: {
    tlv: StreamTlv.MECHANISM,
    kind: "u16",
    required: true,
    min: Mechanism.PASSWORD,
    max: Mechanism.PASSWORD,
    invalid: StreamError.MECHANISM_INVALID,
  },
  name: { tlv: StreamTlv.NAME, kind: "string", required: true, maxBytes: MAX_NAME_BYTES, text: "name" },
  // §4.1 [clients]: one client sends the password as 5, another as 0x4001.
  password: {
    tlv: StreamTlv.PASSWORD,
    also: [StreamTlv.PASSWORD_ALT],
    kind: "bytes",
    required: true,
    maxBytes: MAX_PASSWORD_BYTES,
  },
} as const satisfies Shape;

export async function authenticate(
  { envelope: req, fields }: Request<typeof authenticateShape>,
  deps: AuthenticateDeps,
): Promise<AuthResult> {
  const at = fields.name.indexOf("@");
  if ([...(at === -1 ? fields.name : fields.name.slice(0, at))].length > ACCOUNT_NAME_MAX) {
    return { reply: errorReply(req, GlobalError.INVALID_TLV_VALUE), outcome: "bad_request" };
  }
  // A NAME that is no possible account name is treated as an unknown user.
  const canonical = normalizeAddress(fields.name, deps.config.domain);
  const limits = deps.config.limits;
  const accountKey = canonical === undefined ? undefined : rateKeys.account(canonical);
  const addressKey = rateKeys.address(req.remoteAddress);
  const base = canonical === undefined ? {} : { account: canonical };

  // Past either limit the password is not even looked at, so a locked-out attacker learns nothing
  // more from further guesses (no oracle), and the connection is closed (§6).
  const limited = (outcome: "rate_limited" | "address_limited"): AuthResult => ({
    reply: errorReply(req, StreamError.AUTHENTICATION_INVALID, ReplyAction.CLOSE_AFTER),
    outcome,
    ...base,
  });
  // The per-address limit counts distinct accounts failed (an unknown or malformed name is one too),
  // so the crowd behind one NAT mistyping their own passwords does not add up like an attacker
  // trying many accounts; and it never refuses an account that logged in from there before.
  const member = canonical ?? `?${fields.name.toLowerCase()}`;
  const goodKey =
    canonical === undefined || limits.loginKnownGoodMs === 0
      ? undefined
      : rateKeys.knownGood(canonical, req.remoteAddress);
  const perAddress = limits.loginAttemptsPerAddress;
  const gate = deps.gate ?? sharedGate;
  let keys: string[];
  let knownGood: boolean;
  for (;;) {
    const [byAddress, byAccount, known] = await Promise.all([
      deps.sessions.peekDistinct(addressKey, member, limits.loginAddressWindowMs),
      accountKey === undefined
        ? undefined
        : deps.sessions.peek(accountKey, limits.loginAccountWindowMs, limits.loginAttemptsPerAccount),
      goodKey === undefined ? false : deps.sessions.marked(goodKey),
    ]);
    if (byAccount?.allowed === false) return limited("rate_limited");
    // A known-good pair, or an account already counted at this address, takes no new place.
    const addressApplies = !known && !byAddress.present;
    if (addressApplies && byAddress.count >= perAddress) return limited("address_limited");
    const addressRoom = !addressApplies || byAddress.count + gate.count(addressKey) < perAddress;
    const accountRoom =
      accountKey === undefined ||
      (byAccount?.count ?? 0) + gate.count(accountKey) < limits.loginAttemptsPerAccount;
    if (addressRoom && accountRoom) {
      knownGood = known;
      keys = [...(addressApplies ? [addressKey] : []), ...(accountKey === undefined ? [] : [accountKey])];
      break;
    }
    // Attempts in progress could use up the rest: wait for one to finish, then look again.
    await gate.released();
  }
  gate.enter(keys);
  let failed: boolean;
  let account: Account | undefined;
  let delayedMs = 0;
  try {
    // Unknown, malformed and disabled accounts verify against the dummy hash: same work, same answer.
    account = canonical === undefined ? undefined : await deps.accounts.find(canonical);
    const hash = account?.passwordHash ?? (await dummyHash());
    const passwordOk = await verifyPassword(hash, fields.password);
    failed = account === undefined || account.disabled || !passwordOk;
    if (failed) {
      // Counted for unknown names too: otherwise only real accounts would lock, which tells them apart.
      // A known-good pair's own mistakes count against its account only.
      const [a, b] = await Promise.all([
        knownGood
          ? undefined
          : deps.sessions.hitDistinct(addressKey, member, limits.loginAddressWindowMs, perAddress),
        accountKey === undefined
          ? undefined
          : deps.sessions.hit(accountKey, limits.loginAccountWindowMs, limits.loginAttemptsPerAccount),
      ]);
      // Another instance's attempt may have used up the last slot meanwhile.
      if (b?.allowed === false) return limited("rate_limited");
      if (a?.allowed === false) return limited("address_limited");
      // Slow down before refusing: past half the limit, each failure from this address is answered
      // later, the more so the closer the address is to the limit.
      delayedMs = a === undefined ? 0 : addressDelay(a.count, perAddress, limits);
      if (delayedMs > 0) await sleep(delayedMs);
    }
  } finally {
    gate.leave(keys);
  }
  if (failed || account === undefined) {
    return {
      reply: errorReply(req, StreamError.AUTHENTICATION_INVALID),
      outcome: "bad_credentials",
      ...base,
      ...(delayedMs > 0 ? { delayedMs } : {}),
    };
  }

  // Known good from now on: this account's logins from this address are never refused by the
  // per-address limit (an attacker behind the same NAT still meets the per-account one).
  if (goodKey !== undefined) {
    try {
      await deps.sessions.mark(goodKey, limits.loginKnownGoodMs);
    } catch {
      // The login stands; the pair is marked at its next success.
    }
  }

  // Success resets no counter. Not the address one: an attacker holding one valid account could
  // log in between guesses and keep guessing other accounts from that address forever. Not the
  // account one either: the real user's routine logins would hand a guesser a fresh allowance
  // each time, so the limit would be per login instead of per window.
  const now = (deps.now ?? Date.now)();
  const body = new TlvWriter(96).string(StreamTlv.NAME, account.name).u64(StreamTlv.TIMESTAMP, now);
  return {
    reply: { actions: ReplyAction.SET_ACCOUNT, account: account.name, frames: responseFrame(req, body) },
    outcome: "ok",
    account: account.name,
  };
}
