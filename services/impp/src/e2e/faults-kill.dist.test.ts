// kill -9 of each process of a distributed cluster in turn — the recipient's edge, the sender's
// edge, the services process, nats-server, postgres, redis-server — while a sender streams
// numbered IMs to a recipient on the other edge that is online, goes offline and comes back
// (faults.ts runKillScenario). NATS, Redis and Postgres are the cluster's own processes on
// other ports (testing/infra.ts), never the machine's shared ones.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GlobalError } from "@impp/protocol";
import { type Cluster, type ClusterPart, partName, startCluster } from "../testing/cluster.js";
import { infraUnavailable } from "../testing/infra.js";
import { collect, friends, login, loginRetrying, newUser, runKillScenario } from "./faults.js";
import { E2E_ENV, takeOffline } from "./suite.js";

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
// the edges' own) is gone. Each edge notices on its next heartbeat (its own entry was missing) and
// registers its bound devices again; until then messages to the recipient's connection that stayed
// open are stored offline, not lost. Asserted: refusals are reported, everything acknowledged is
// received or stored, none twice, in order.
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

// The issue #11 case: after Redis restarted empty, users who stayed connected could not be reached
// until they reconnected. Now their edge registers them again: a recipient whose connection stayed
// open receives IMs live again (delivered to that same connection, not stored), within a bound.
test("after redis-server restarts empty, a user who stayed connected is reachable live again", {
  skip: missing,
}, async (t) => {
  const alice = await newUser(cluster, "alice");
  const bob = await newUser(cluster, "bob");
  await friends(cluster, alice, bob);
  const a = await login(cluster, alice, 0, "desk");
  const b = await login(cluster, bob, 1, "phone");
  const got: number[] = [];
  collect(b, got);
  try {
    assert.equal((await a.sendIm(bob, "before", { messageId: idOf(0) })).isError, false);
    await waitUntil("the first IM arrives", () => got.includes(0), 5_000);

    await cluster.kill("redis", "SIGKILL");
    await sleep(1000);
    await cluster.restart("redis");
    const restarted = performance.now();

    // Probe until one IM reaches bob's connection live; refusals (SERVICE_UNAVAILABLE while the
    // services reconnect) and stored ones (before bob's edge re-registered him) do not count.
    let probe = 0;
    const okEarlier: number[] = [];
    for (;;) {
      probe++;
      const res = await a.sendIm(bob, `probe ${probe}`, { messageId: idOf(probe) }).catch(() => undefined);
      if (res !== undefined && !res.isError) {
        await sleep(100);
        if (got.includes(probe)) break;
        okEarlier.push(probe);
      } else await sleep(100);
      assert.ok(
        performance.now() - restarted < 30_000,
        `bob not reachable live ${probe} probes after the restart`,
      );
    }
    const reachableMs = Math.round(performance.now() - restarted);
    t.diagnostic(
      `reachable live again ${reachableMs} ms after redis-server restarted (probes ${probe}, acknowledged before that ${okEarlier.length})`,
    );
    assert.equal(b.closed, false, "the same connection, never reconnected");

    // From now on every IM is delivered live to that connection, none stored.
    const after = Array.from({ length: 10 }, (_, k) => probe + 1 + k);
    for (const i of after)
      assert.equal((await a.sendIm(bob, `after ${i}`, { messageId: idOf(i) })).isError, false);
    await waitUntil("the IMs after recovery arrive", () => after.every((i) => got.includes(i)), 5_000);
    const reader = await loginRetrying(cluster, bob, 0, "reader");
    try {
      const stored = (await takeOffline(reader)).map((hex) => Buffer.from(hex, "hex").readUInt32BE(0));
      assert.deepEqual(
        stored.filter((i) => i >= probe),
        [],
        "nothing sent after the recipient was reachable again was stored",
      );
      const lost = okEarlier.filter((i) => !got.includes(i) && !stored.includes(i));
      assert.deepEqual(lost, [], "probes acknowledged before re-registration are received or stored");
    } finally {
      reader.destroy();
    }
  } finally {
    a.destroy();
    b.destroy();
  }
});

// Issue #11: with the services process hung past the edge's timeout, IMs were answered
// SERVICE_UNAVAILABLE and then delivered when it woke — a client that resends on that error makes
// duplicates. Now each request carries its deadline and the woken service drops the late ones.
test("services process stopped (SIGSTOP) past the deadline: SERVICE_UNAVAILABLE, and never delivered when it wakes", {
  skip: missing,
}, async (t) => {
  const alice = await newUser(cluster, "alice");
  const bob = await newUser(cluster, "bob");
  await friends(cluster, alice, bob);
  const a = await login(cluster, alice, 0, "desk");
  const b = await login(cluster, bob, 1, "phone");
  const got: number[] = [];
  collect(b, got);
  const services = cluster.pids()[0]!;
  try {
    process.kill(services, "SIGSTOP");
    const refused: number[] = [];
    try {
      for (const i of [1, 2]) {
        const res = await a.sendIm(bob, `while stopped ${i}`, { messageId: idOf(i) });
        assert.equal(res.isError, true, `IM ${i} answered while the services were stopped`);
        assert.equal(res.errorCode, GlobalError.SERVICE_UNAVAILABLE);
        refused.push(i);
      }
    } finally {
      process.kill(services, "SIGCONT");
    }
    // The woken process reads the two stopped requests before this one (one subscription, in
    // order): once this arrives, they have been dealt with.
    assert.equal((await a.sendIm(bob, "after", { messageId: idOf(3) })).isError, false);
    await waitUntil("the IM sent after the wake-up arrives", () => got.includes(3), 10_000);
    assert.deepEqual(got, [3], "the IMs reported as failed were not delivered");
    const reader = await login(cluster, bob, 0, "reader");
    try {
      assert.deepEqual(await takeOffline(reader), [], "nor stored");
    } finally {
      reader.destroy();
    }
    t.diagnostic(`refused while stopped: ${refused.length}; delivered after the wake-up: ${got.join(" ")}`);
  } finally {
    a.destroy();
    b.destroy();
  }
});

const idOf = (i: number) => {
  const x = Buffer.alloc(4);
  x.writeUInt32BE(i);
  return x;
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `ok` (a bounded wait: fails after `withinMs`, never a timed assertion of how long it took). */
async function waitUntil(what: string, ok: () => boolean, withinMs: number): Promise<void> {
  const until = performance.now() + withinMs;
  while (!ok()) {
    assert.ok(performance.now() < until, `never: ${what}`);
    await sleep(25);
  }
}
