// Issue #11: the per-address login limit must hurt the attacker, not the crowd. An attacker
// hammering logins from one address (every client here is 127.0.0.1) gets that address limited, but
// a user who logged in from there before still gets in; someone who never did is refused.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { ImppClient } from "@impp/client";
import { StreamError } from "@impp/protocol";
import { type Cluster, startCluster } from "../testing/cluster.js";
import { E2E_ENV } from "./suite.js";

const PASSWORD = "correct horse battery staple";
let cluster: Cluster;
const clients: ImppClient[] = [];

before(async () => {
  cluster = await startCluster({
    mode: "embedded",
    env: {
      ...E2E_ENV,
      IMPP_LOGIN_ATTEMPTS_PER_ADDRESS: "6",
      IMPP_LOGIN_ATTEMPTS_PER_ACCOUNT: "3",
      // Slowed down past half the limit, but briefly: the test is not about the wait.
      IMPP_LOGIN_ADDRESS_DELAY_MS: "20",
    },
  });
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster?.stop();
});

async function open(): Promise<ImppClient> {
  const e = cluster.edges[0]!;
  const c = await ImppClient.connect({
    host: e.host,
    port: e.port,
    rejectUnauthorized: false,
    timeoutMs: 8000,
  });
  clients.push(c);
  return c;
}

async function newUser(prefix: string): Promise<string> {
  const name = `${prefix}${randomBytes(4).toString("hex")}`;
  await cluster.addUser(name, PASSWORD);
  return name;
}

test("an attacker hammering logins from one address does not lock out a user who logged in from it before", async (t) => {
  const victim = await newUser("victim");
  const stranger = await newUser("stranger");
  const before = await open();
  assert.equal((await before.authenticate(victim, PASSWORD)).isError, false);
  before.destroy();

  // The attacker tries one account after another from the same connection: six distinct accounts
  // fail (answered, later and later past the third), the seventh is refused and the connection closed.
  const attacker = await open();
  for (let i = 1; i <= 6; i++) {
    const r = await attacker.authenticate(`guess${i}-${randomBytes(3).toString("hex")}`, "hunter2");
    assert.equal(r.errorCode, StreamError.AUTHENTICATION_INVALID);
  }
  const refused = await attacker.authenticate(`guess7-${randomBytes(3).toString("hex")}`, "hunter2");
  assert.equal(refused.errorCode, StreamError.AUTHENTICATION_INVALID);
  await attacker.waitClosed();
  t.diagnostic("address limited after 6 distinct accounts failed");
  // The address stays limited for accounts never seen there...
  const other = await open();
  const s = await other.authenticate(stranger, PASSWORD);
  assert.equal(s.errorCode, StreamError.AUTHENTICATION_INVALID, "never logged in from there: refused");
  await other.waitClosed();
  // ...but the user who logged in from it before gets in, with the right password.
  const again = await open();
  const v = await again.authenticate(victim, PASSWORD);
  assert.equal(v.isError, false, "the known-good user is let through");
});
