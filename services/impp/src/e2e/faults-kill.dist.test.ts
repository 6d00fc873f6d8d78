// kill -9 of each process of a distributed cluster in turn — the recipient's edge, the sender's
// edge, the services process, nats-server, postgres, redis-server — while a sender streams
// numbered IMs to a recipient on the other edge that is online, goes offline and comes back
// (faults.ts runKillScenario). NATS, Redis and Postgres are the cluster's own processes on
// other ports (testing/infra.ts), never the machine's shared ones.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Cluster, type ClusterPart, partName, startCluster } from "../testing/cluster.js";
import { infraUnavailable } from "../testing/infra.js";
import { runKillScenario } from "./faults.js";
import { E2E_ENV } from "./suite.js";

const missing = infraUnavailable(["nats", "redis", "postgres"]);

let cluster: Cluster;
before(async () => {
  if (missing !== undefined) return;
  cluster = await startCluster({
    mode: "distributed",
    edges: 2,
    ownInfra: ["nats", "redis", "postgres"],
    verbose: process.env.IMPP_TEST_VERBOSE === "1",
    env: {
      ...E2E_ENV,
      IMPP_IDLE_TIMEOUT_MS: "60000",
      // A request that meets a dead process fails within 3 s (deliveries: 1.5 s), not 5.
      IMPP_REQUEST_TIMEOUT_MS: "3000",
    },
  });
});
after(async () => {
  await cluster?.stop();
});

const ONLY = process.env.IMPP_TEST_FAULTS?.split(",");
const PARTS = ([{ edge: 1 }, { edge: 0 }, "services", "nats", "postgres"] as ClusterPart[]).filter(
  (p) => ONLY === undefined || ONLY.includes(partName(p)),
);

for (const part of PARTS) {
  test(`kill -9 of ${partName(part)} mid-stream: nothing acknowledged is lost`, {
    skip: missing,
  }, async (t) => {
    const r = await runKillScenario(cluster, { part });
    t.diagnostic(r.line);
    t.diagnostic(
      `acknowledged while the recipient's first connection was open but stored: ${r.storedWhileConnected}`,
    );
    if (r.both.length > 0) t.diagnostic(`received and stored: ${r.both.join(" ")}`);
  });
}

// Redis keeps nothing on disk here, so it comes back empty: every live device registration (and
// the edges' own) is gone. The recipient's first connection stays open across the first restart
// but is no longer registered, so messages to it are stored offline instead of delivered until it
// logs in again — nothing acknowledged is lost, but it does not receive them live. Edges
// re-registering their devices after a Redis restart (another issue) would make those deliveries
// live again; until then the property that holds is the one asserted: refusals are reported,
// everything acknowledged is received or stored, none twice, in order.
test("kill -9 of redis-server (restarted empty): nothing acknowledged is lost", {
  skip: missing,
}, async (t) => {
  const r = await runKillScenario(cluster, { part: "redis" });
  t.diagnostic(r.line);
  t.diagnostic(
    `acknowledged while the recipient's first connection was open but stored, not delivered: ${r.storedWhileConnected}`,
  );
  assert.ok(r.counts.ok.length > 0);
  assert.ok(r.counts.refused > 0, "an outage of Redis is reported to the sender as refusals");
});
