import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { ReplyAction, type RequestEnvelope } from "@impp/bus";
import { Family, GlobalError, StreamError, StreamTlv, TlvBlock, TlvWriter } from "@impp/protocol";
import { errorCode, handlerFor, only, testConfig } from "@impp/service-kit/testing";
import { createMemorySessionStore, type SessionStore } from "@impp/sessions";
import { openStore, type Store } from "@impp/store";
import { accountsMigrations, createAccountsRepository } from "./accounts.js";
import { createAccountsAdmin } from "./admin.js";
import { addressDelay, authenticate, rateKeys } from "./authenticate.js";
import { type AuthState, authModule } from "./module.js";
import { request } from "./test-support.js";

const config = testConfig({
  IMPP_DOMAIN: "example.org",
  IMPP_LOGIN_ATTEMPTS_PER_ACCOUNT: "3",
  IMPP_LOGIN_ATTEMPTS_PER_ADDRESS: "5",
  // The slow-down has its own tests below; here answers come at once.
  IMPP_LOGIN_ADDRESS_DELAY_MS: "0",
});

function auth(
  name: string | undefined,
  password: string | undefined,
  opts: { alt?: boolean; mechanism?: number | null } = {},
) {
  const w = new TlvWriter();
  if (opts.mechanism !== null) w.u16(StreamTlv.MECHANISM, opts.mechanism ?? 1);
  if (name !== undefined) w.string(StreamTlv.NAME, name);
  if (password !== undefined) w.string(opts.alt ? StreamTlv.PASSWORD_ALT : StreamTlv.PASSWORD, password);
  return Buffer.from(w.finish());
}

/** AUTHENTICATE's fields as the kit would parse them. */
function parsedAuth(name: string, password: string) {
  return { mechanism: 1, name, password: Buffer.from(password) };
}

const handleAuthRequest = (req: RequestEnvelope, deps: AuthState) =>
  handlerFor(authModule, Family.STREAM, deps, deps.config)(req);

describe("AUTHENTICATE", () => {
  let store: Store;
  let sessions: SessionStore;
  let clock = 1_000_000;
  const deps = (): AuthState => ({
    accounts: createAccountsRepository(store),
    sessions,
    config,
    now: () => 1_700_000_000_123,
  });

  before(async () => {
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    const admin = createAccountsAdmin(store, { domain: "example.org" });
    assert.deepEqual(await admin.add("Tricia", "password"), { ok: true, value: "tricia" });
    assert.deepEqual(await admin.add("zaphod", "heart of gold"), { ok: true, value: "zaphod" });
  });
  after(() => store.close());
  beforeEach(() => {
    clock += 10 * 60_000;
    sessions = createMemorySessionStore({ now: () => clock });
  });

  test("success: response NAME (canonical) + TIMESTAMP echoing family/type/sequence, and SET_ACCOUNT", async () => {
    const reply = await handleAuthRequest(request(auth("tricia", "password")), deps());
    assert.equal(reply.actions, ReplyAction.SET_ACCOUNT);
    assert.equal(reply.account, "tricia");
    const f = only(reply.frames);
    assert.deepEqual([f.flags, f.family, f.type, f.sequence], [1, 1, 2, 77]);
    const b = TlvBlock.parse(f.block) as TlvBlock;
    assert.equal(b.string(StreamTlv.NAME), "tricia");
    assert.equal(b.u64number(StreamTlv.TIMESTAMP), 1_700_000_000_123);
    assert.equal(b.tlvs.length, 2);
  });

  test("names are case-insensitive and may carry the server's domain", async () => {
    for (const name of ["TRICIA", "Tricia@Example.ORG"]) {
      const reply = await handleAuthRequest(request(auth(name, "password")), deps());
      assert.equal(reply.account, "tricia", name);
      const b = TlvBlock.parse(only(reply.frames).block) as TlvBlock;
      assert.equal(b.string(StreamTlv.NAME), "tricia");
    }
  });

  test("the password is accepted as TLV 5 and as TLV 0x4001", async () => {
    const reply = await handleAuthRequest(request(auth("zaphod", "heart of gold", { alt: true })), deps());
    assert.equal(reply.account, "zaphod");
    const f = only(reply.frames);
    assert.equal(f.flags, 1);
  });

  test("wrong password and unknown user get the same answer, without SET_ACCOUNT or CLOSE_AFTER", async () => {
    const wrong = await handleAuthRequest(request(auth("tricia", "nope")), deps());
    const unknown = await handleAuthRequest(request(auth("arthur", "password")), deps());
    const malformed = await handleAuthRequest(request(auth("not a name!", "password")), deps());
    const otherDomain = await handleAuthRequest(request(auth("tricia@elsewhere.net", "password")), deps());
    for (const r of [wrong, unknown, malformed, otherDomain]) {
      assert.equal(r.actions, 0);
      assert.equal(r.account, undefined);
      const f = only(r.frames);
      assert.equal(f.flags, 0x4);
      assert.equal(errorCode(f), StreamError.AUTHENTICATION_INVALID);
    }
    assert.deepEqual(Buffer.from(wrong.frames), Buffer.from(unknown.frames));
  });

  test("a disabled account cannot log in even with its password", async () => {
    await createAccountsRepository(store).setDisabled("zaphod", true);
    try {
      const r = await handleAuthRequest(request(auth("zaphod", "heart of gold")), deps());
      assert.equal(errorCode(only(r.frames)), StreamError.AUTHENTICATION_INVALID);
    } finally {
      await createAccountsRepository(store).setDisabled("zaphod", false);
    }
  });

  test("a mechanism other than PASSWORD is MECHANISM_INVALID", async () => {
    const r = await handleAuthRequest(request(auth("tricia", "password", { mechanism: 2 })), deps());
    assert.equal(errorCode(only(r.frames)), StreamError.MECHANISM_INVALID);
  });

  test("missing MECHANISM, NAME or PASSWORD is INVALID_TLV_VALUE; bad sizes are rejected", async () => {
    const cases: Array<[Buffer, number]> = [
      [auth("tricia", "password", { mechanism: null }), GlobalError.INVALID_TLV_VALUE],
      [auth(undefined, "password"), GlobalError.INVALID_TLV_VALUE],
      [auth("tricia", undefined), GlobalError.INVALID_TLV_VALUE],
      [auth("t".repeat(65), "password"), GlobalError.INVALID_TLV_VALUE],
      [auth("tricia", "p".repeat(1025)), GlobalError.INVALID_TLV_VALUE],
      // MECHANISM as one byte instead of a u16
      [
        Buffer.from(new TlvWriter().u8(StreamTlv.MECHANISM, 1).string(StreamTlv.NAME, "tricia").finish()),
        GlobalError.INVALID_TLV_LENGTH,
      ],
      // a TLV overrunning its block
      [Buffer.from([0, 3, 0, 9, 0x61]), GlobalError.INVALID_TLV_LENGTH],
      // NAME not UTF-8
      [
        Buffer.from(
          new TlvWriter()
            .u16(StreamTlv.MECHANISM, 1)
            .bytes(StreamTlv.NAME, Buffer.from([0xff, 0xfe]))
            .string(StreamTlv.PASSWORD, "x")
            .finish(),
        ),
        GlobalError.INVALID_TLV_VALUE,
      ],
    ];
    for (const [block, code] of cases) {
      const r = await handleAuthRequest(request(block), deps());
      assert.equal(r.actions, 0);
      const f = only(r.frames);
      assert.deepEqual([f.flags, f.family, f.type, f.sequence], [4, 1, 2, 77]);
      assert.equal(errorCode(f), code, block.toString("hex"));
    }
  });

  test("an error to an extension-flagged request carries the extension bit", async () => {
    const r = await handleAuthRequest(request(auth("tricia", "x", { mechanism: 9 }), { flags: 0x8 }), deps());
    assert.equal(only(r.frames).flags, 0xc);
  });

  test("another STREAM type is INVALID_TLV_VALUE; AUTHENTICATE when logged in is INVALID_STATE", async () => {
    const r1 = await handleAuthRequest(request(auth("tricia", "password"), { type: 9 }), deps());
    assert.equal(errorCode(only(r1.frames)), GlobalError.INVALID_TLV_VALUE);
    assert.equal(only(r1.frames).type, 9);
    const r2 = await handleAuthRequest(request(auth("tricia", "password"), { account: "tricia" }), deps());
    assert.equal(errorCode(only(r2.frames)), GlobalError.INVALID_STATE);
    assert.equal(r2.actions, 0);
  });

  test("per account: past the limit AUTHENTICATION_INVALID + CLOSE_AFTER, even with the right password", async () => {
    // Different addresses, so only the account limit (3) applies.
    for (let i = 0; i < 3; i++) {
      const r = await handleAuthRequest(
        request(auth("tricia", "bad"), { remoteAddress: `198.51.100.${i}` }),
        deps(),
      );
      assert.equal(r.actions, 0, `attempt ${i + 1}`);
    }
    const r = await handleAuthRequest(
      request(auth("Tricia", "password"), { remoteAddress: "203.0.113.9" }),
      deps(),
    );
    assert.equal(r.actions, ReplyAction.CLOSE_AFTER);
    assert.equal(errorCode(only(r.frames)), StreamError.AUTHENTICATION_INVALID);
    // Another account from the same addresses is unaffected.
    const other = await handleAuthRequest(
      request(auth("zaphod", "heart of gold"), { remoteAddress: "198.51.100.0" }),
      deps(),
    );
    assert.equal(other.account, "zaphod");
    // The window passes: the right password works again.
    clock += config.limits.loginAccountWindowMs;
    const later = await handleAuthRequest(
      request(auth("tricia", "password"), { remoteAddress: "203.0.113.9" }),
      deps(),
    );
    assert.equal(later.account, "tricia");
  });

  test("unknown accounts are limited exactly like real ones (the limit is no user oracle)", async () => {
    for (let i = 0; i < 3; i++) {
      await handleAuthRequest(request(auth("nobody", "bad"), { remoteAddress: `198.51.100.${i}` }), deps());
    }
    const r = await handleAuthRequest(
      request(auth("nobody", "bad"), { remoteAddress: "203.0.113.9" }),
      deps(),
    );
    assert.equal(r.actions, ReplyAction.CLOSE_AFTER);
  });

  test("per address: past the limit every account is refused from it and the connection closed", async () => {
    const names = ["a1", "a2", "a3", "a4", "a5"];
    // Each attempt on a new connection (a new port): the limit is per address, not per connection.
    for (const [i, n] of names.entries()) {
      const r = await handleAuthRequest(
        request(auth(n, "bad"), { remoteAddress: `192.0.2.1:${50000 + i}` }),
        deps(),
      );
      assert.equal(r.actions, 0);
    }
    const r = await handleAuthRequest(request(auth("zaphod", "heart of gold")), deps());
    assert.equal(r.actions, ReplyAction.CLOSE_AFTER);
    assert.equal(errorCode(only(r.frames)), StreamError.AUTHENTICATION_INVALID);
    const elsewhere = await handleAuthRequest(
      request(auth("zaphod", "heart of gold"), { remoteAddress: "192.0.2.99" }),
      deps(),
    );
    assert.equal(elsewhere.account, "zaphod");
  });

  test("attempts sent all at once cannot outrun the limit: only as many get checked as it allows", async () => {
    // 3 per account; each attempt from its own address so only the account limit applies.
    const attempts = Array.from({ length: 8 }, (_, i) =>
      handleAuthRequest(
        request(auth("tricia", i === 7 ? "password" : `guess-${i}`), { remoteAddress: `198.51.100.${i}` }),
        deps(),
      ),
    );
    const replies = await Promise.all(attempts);
    const answered = replies.filter((r) => r.actions === 0);
    const closed = replies.filter((r) => r.actions === ReplyAction.CLOSE_AFTER);
    assert.equal(answered.length, 3);
    assert.equal(closed.length, 5);
    assert.equal(
      replies.filter((r) => r.account !== undefined).length,
      0,
      "the right password came too late",
    );
  });

  test("concurrent successful logins behind one address are queued, not refused", async () => {
    const replies = await Promise.all(
      Array.from({ length: 12 }, () => handleAuthRequest(request(auth("zaphod", "heart of gold")), deps())),
    );
    assert.deepEqual(new Set(replies.map((r) => r.account)), new Set(["zaphod"]));
  });

  test("a successful login resets no counter", async () => {
    await handleAuthRequest(request(auth("tricia", "bad")), deps());
    await handleAuthRequest(request(auth("tricia", "password")), deps());
    const l = config.limits;
    assert.equal(
      (await sessions.peek(rateKeys.account("tricia"), l.loginAccountWindowMs, l.loginAttemptsPerAccount))
        .count,
      1,
    );
    assert.equal(
      (await sessions.peekDistinct(rateKeys.address("192.0.2.1"), "x", l.loginAddressWindowMs)).count,
      1,
    );
  });

  test("per address: distinct accounts are counted, not attempts — one account failing again counts once", async () => {
    // tricia fails until her own limit (3), which costs the address one place of five.
    for (let i = 0; i < 4; i++) await handleAuthRequest(request(auth("tricia", `typo-${i}`)), deps());
    for (const n of ["b1", "b2", "b3"]) {
      assert.equal((await handleAuthRequest(request(auth(n, "bad")), deps())).actions, 0);
    }
    // Four distinct accounts failed: a fifth may still log in from there.
    const r = await handleAuthRequest(request(auth("zaphod", "heart of gold")), deps());
    assert.equal(r.account, "zaphod");
  });

  test("per address: an account that logged in from the address before is let through when the address is limited", async () => {
    const here = (port: number) => ({ remoteAddress: `192.0.2.1:${port}` });
    assert.equal(
      (await handleAuthRequest(request(auth("zaphod", "heart of gold"), here(1)), deps())).account,
      "zaphod",
    );
    // An attacker behind the same address tries five other accounts: the address is limited now.
    for (const [i, n] of ["c1", "c2", "c3", "c4", "c5", "c6"].entries()) {
      await handleAuthRequest(request(auth(n, "guess"), here(100 + i)), deps());
    }
    const stranger = await handleAuthRequest(request(auth("tricia", "password"), here(200)), deps());
    assert.equal(stranger.actions, ReplyAction.CLOSE_AFTER, "never logged in from there: refused");
    assert.equal(errorCode(only(stranger.frames)), StreamError.AUTHENTICATION_INVALID);
    // The known-good pair is not: same address bucket, new connection.
    const back = await handleAuthRequest(request(auth("zaphod", "heart of gold"), here(300)), deps());
    assert.equal(back.account, "zaphod");
    // Known good does not lift the per-account limit: a guesser behind the NAT still meets it.
    for (let i = 0; i < 3; i++)
      await handleAuthRequest(request(auth("zaphod", `guess-${i}`), here(400 + i)), deps());
    const locked = await handleAuthRequest(request(auth("zaphod", "heart of gold"), here(500)), deps());
    assert.equal(locked.actions, ReplyAction.CLOSE_AFTER);
  });

  test("refusals say which limit: address_limited and rate_limited are told apart", async () => {
    const d = { ...deps() };
    const run = (name: string, password: string, remoteAddress: string) =>
      authenticate(
        { envelope: request(auth(name, password), { remoteAddress }), fields: parsedAuth(name, password) },
        d,
      );
    for (const n of ["d1", "d2", "d3", "d4", "d5"]) await run(n, "bad", "192.0.2.7");
    assert.equal((await run("tricia", "password", "192.0.2.7")).outcome, "address_limited");
    for (let i = 0; i < 3; i++) await run("zaphod", "bad", `198.51.100.${i}`);
    assert.equal((await run("zaphod", "heart of gold", "198.51.100.77")).outcome, "rate_limited");
  });

  test("per address: past half the limit, failures are answered later — the more, the closer to the limit", async () => {
    const limits = { loginAddressDelayMs: 500, requestTimeoutMs: 5000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((count) => addressDelay(count, 5, limits)),
      [0, 0, 500, 1000, 1250],
      "none below half, then 500 ms per account past it, at most a quarter of the request timeout",
    );
    assert.equal(addressDelay(5, 5, { ...limits, loginAddressDelayMs: 0 }), 0);
    // Through authenticate: the third distinct failure from one address is slowed down.
    const slow = {
      ...deps(),
      config: { ...config, limits: { ...config.limits, loginAddressDelayMs: 5 } },
    };
    const outcomes = [];
    for (const n of ["e1", "e2", "e3"]) {
      outcomes.push(
        await authenticate(
          { envelope: request(auth(n, "bad"), { remoteAddress: "192.0.2.8" }), fields: parsedAuth(n, "bad") },
          slow,
        ),
      );
    }
    assert.deepEqual(
      outcomes.map((o) => [o.outcome, o.delayedMs]),
      [
        ["bad_credentials", undefined],
        ["bad_credentials", undefined],
        ["bad_credentials", 5],
      ],
    );
  });

  test("a failing backend is SERVICE_UNAVAILABLE for that request, not an exception", async () => {
    await sessions.close();
    const r = await handleAuthRequest(request(auth("tricia", "password")), deps());
    assert.equal(errorCode(only(r.frames)), GlobalError.SERVICE_UNAVAILABLE);
    assert.equal(r.actions, 0);
  });
});
