// kill -9 of the recipient's edge while IMs stream to it (distributed: services and two edges on
// NATS, Redis, Postgres): the recipient is online, goes offline with its edge, and comes back on
// the restarted edge. Every acknowledged message is received or stored.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { ImppClient } from "@impp/client";
import { type Cluster, startCluster } from "../testing/cluster.js";
import { assertInOrder, collect, friends, login, newUser, stream, verdict } from "./faults.js";
import { E2E_ENV } from "./suite.js";

let cluster: Cluster;
const clients: ImppClient[] = [];
before(async () => {
  cluster = await startCluster({
    mode: "distributed",
    edges: 2,
    env: { ...E2E_ENV, IMPP_IDLE_TIMEOUT_MS: "60000" },
  });
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster?.stop();
});

test("kill -9 of the recipient's edge mid-stream, then the recipient comes back on the restarted edge", async (t) => {
  const alice = await newUser(cluster, "alice");
  const bob = await newUser(cluster, "bob");
  await friends(cluster, alice, bob);
  const a = await login(cluster, alice, 0);
  clients.push(a);
  const first: number[] = [];
  const second: number[] = [];
  const b1 = await login(cluster, bob, 1, "phone");
  clients.push(b1);
  collect(b1, first);
  const counts = await stream(
    () => a,
    bob,
    600,
    async (i) => {
      if (i === 200) await cluster.killEdge(1, "SIGKILL");
      if (i === 400) {
        await cluster.restartEdge(1);
        const b2 = await login(cluster, bob, 1, "phone");
        clients.push(b2);
        collect(b2, second);
      }
    },
  );
  assert.ok(first.length > 0 && second.length > 0, "bob received messages before and after");
  assertInOrder(first, "before the kill");
  assertInOrder(second, "after the restart");
  const reader = await login(cluster, bob, 0, "reader");
  clients.push(reader);
  const v = await verdict("recipient's edge kill -9 + restart", counts, [...first, ...second], reader);
  t.diagnostic(v.line);
});
