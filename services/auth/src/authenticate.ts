// STREAM AUTHENTICATE (PROTOCOL.md §4.1): the request → reply function, free of sockets and the bus.
// A malformed request (a missing TLV, a mechanism other than PASSWORD) is answered by the kit from
// authenticateShape before this runs; it is counted in impp_errors_total, not in auth attempts.
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
export type AuthOutcome = "ok" | "bad_credentials" | "rate_limited" | "bad_request";

export interface AuthResult {
  reply: ReplyEnvelope;
  outcome: AuthOutcome;
  /** The canonical account the attempt was about, when the name was well formed. */
  account?: string;
}

/** The longest NAME looked at: a 64-character name, "@", and a 253-byte DNS name. */
const MAX_NAME_BYTES = ACCOUNT_NAME_MAX + 1 + 253;

export const rateKeys = {
  account: (canonical: string) => `login:acct:${canonical}`,
  /** Per bucket of addresses (see loginAddressBucket), not per exact remote address. */
  address: (remoteAddress: string) => `login:addr:${loginAddressBucket(remoteAddress)}`,
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
  const limited = (): AuthResult => ({
    reply: errorReply(req, StreamError.AUTHENTICATION_INVALID, ReplyAction.CLOSE_AFTER),
    outcome: "rate_limited",
    ...base,
  });
  const keys = accountKey === undefined ? [addressKey] : [addressKey, accountKey];
  const gate = deps.gate ?? sharedGate;
  for (;;) {
    const [byAddress, byAccount] = await Promise.all([
      deps.sessions.peek(addressKey, limits.loginAddressWindowMs, limits.loginAttemptsPerAddress),
      accountKey === undefined
        ? undefined
        : deps.sessions.peek(accountKey, limits.loginAccountWindowMs, limits.loginAttemptsPerAccount),
    ]);
    if (!byAddress.allowed || byAccount?.allowed === false) return limited();
    const addressRoom = byAddress.count + gate.count(addressKey) < limits.loginAttemptsPerAddress;
    const accountRoom =
      accountKey === undefined ||
      (byAccount?.count ?? 0) + gate.count(accountKey) < limits.loginAttemptsPerAccount;
    if (addressRoom && accountRoom) break;
    // Attempts in progress could use up the rest: wait for one to finish, then look again.
    await gate.released();
  }
  gate.enter(keys);
  let failed: boolean;
  let account: Account | undefined;
  try {
    // Unknown, malformed and disabled accounts verify against the dummy hash: same work, same answer.
    account = canonical === undefined ? undefined : await deps.accounts.find(canonical);
    const hash = account?.passwordHash ?? (await dummyHash());
    const passwordOk = await verifyPassword(hash, fields.password);
    failed = account === undefined || account.disabled || !passwordOk;
    if (failed) {
      // Counted for unknown names too: otherwise only real accounts would lock, which tells them apart.
      const [a, b] = await Promise.all([
        deps.sessions.hit(addressKey, limits.loginAddressWindowMs, limits.loginAttemptsPerAddress),
        accountKey === undefined
          ? undefined
          : deps.sessions.hit(accountKey, limits.loginAccountWindowMs, limits.loginAttemptsPerAccount),
      ]);
      // Another instance's attempt may have used up the last slot meanwhile.
      if (!a.allowed || b?.allowed === false) return limited();
    }
  } finally {
    gate.leave(keys);
  }
  if (failed || account === undefined) {
    return {
      reply: errorReply(req, StreamError.AUTHENTICATION_INVALID),
      outcome: "bad_credentials",
      ...base,
    };
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
