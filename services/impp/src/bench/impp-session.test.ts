// The benchmark's lean IMPP session against a real server: what it sends arrives whole and in
// order, what the server refuses is counted, and it closes like a client. bench:compare's figures
// are only as good as this session.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { friends, login, newUser } from "../e2e/faults.js";
import { E2E_ENV } from "../e2e/suite.js";
import { type Cluster, startCluster } from "../testing/cluster.js";
import { LeanImppSession } from "./impp-session.js";

describe("bench: the lean IMPP session", () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ mode: "embedded", env: E2E_ENV });
  });
  after(async () => {
    await cluster?.stop();
  });

  test("messages to a contact arrive whole and in order; one to a stranger is counted as refused", async () => {
    const [alice, bob, carol] = [
      await newUser(cluster, "alice"),
      await newUser(cluster, "bob"),
      await newUser(cluster, "carol"),
    ];
    await friends(cluster, alice, bob);
    const sender = new LeanImppSession(await login(cluster, alice, 0), bob);
    const receiver = new LeanImppSession(await login(cluster, bob, 0), undefined);
    const stranger = new LeanImppSession(await login(cluster, carol, 0), bob);
    try {
      const got: string[] = [];
      const all = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${got.length} of 200 arrived within 10 s`)), 10_000);
        receiver.onBody((body) => {
          got.push(body.toString("latin1"));
          if (got.length === 200) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const sent = Array.from({ length: 200 }, (_, i) => `${i}`.padEnd(100, "x"));
      // More than one tick's worth, so several frames share a socket read on the way in.
      for (const body of sent) sender.send(Buffer.from(body, "latin1"));
      await all;
      assert.deepEqual(got, sent);
      assert.equal(sender.refused, 0);

      stranger.send(Buffer.from("not a contact", "latin1"));
      for (let i = 0; i < 100 && stranger.refused === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(stranger.refused, 1, "USERNAME_NOT_CONTACT comes back as an error frame");
      assert.equal(got.length, 200, "nothing of the stranger's reached bob");
      assert.match(sender.tlsProtocol(), /^TLSv1\.[23]$/);
    } finally {
      await Promise.all([sender.close(), receiver.close(), stranger.close()]);
    }
  });
});
