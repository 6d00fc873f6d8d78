// kill -9 of the embedded server mid-stream, restarted on the same data folder: the offline store
// is intact and every acknowledged message is returned.
import { after, before, test } from "node:test";
import type { ImppClient } from "@impp/client";
import { type Cluster, startCluster } from "../testing/cluster.js";
import { friends, login, newUser, stream, verdict } from "./faults.js";
import { E2E_ENV } from "./suite.js";

let cluster: Cluster;
const clients: ImppClient[] = [];
before(async () => {
  cluster = await startCluster({
    mode: "embedded-process",
    env: { ...E2E_ENV, IMPP_IDLE_TIMEOUT_MS: "60000" },
  });
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster?.stop();
});

test("kill -9 of the embedded server while IMs stream to an offline user: the store survives the restart", async (t) => {
  const alice = await newUser(cluster, "alice");
  const bob = await newUser(cluster, "bob");
  await friends(cluster, alice, bob);
  let a = await login(cluster, alice, 0);
  clients.push(a);
  let restarted = false;
  const counts = await stream(
    () => a,
    bob,
    300,
    async (i) => {
      if (i === 150) void cluster.killEdge(0, "SIGKILL");
      // The sender notices, waits for the server to come back on the same folder, and carries on.
      if (i > 150 && !restarted && a.closed) {
        await cluster.restartEdge(0);
        restarted = true;
        a = await login(cluster, alice, 0);
        clients.push(a);
      }
    },
  );
  const b = await login(cluster, bob, 0);
  clients.push(b);
  const v = await verdict("embedded server kill -9 + restart", counts, [], b);
  t.diagnostic(v.line);
});
