// Edge identity: every process start has its own edge id. Two edges on one host name, each PID 1 in
// its own PID namespace (containers with host networking), get different ids and both deliver; an
// edge killed with devices bound and restarted (as PID 1 again) within the liveness TTL leaves no
// ghost devices behind — a new login is not refused TOO_MANY_DEVICES.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { after, describe, test } from "node:test";
import { befriend, connectAndLogin, type ImppClient, type ResponseFrame } from "@impp/client";
import { toSubjectToken } from "@impp/config";
import { DeviceTlv, DeviceType, Family, ImTlv, ImType } from "@impp/protocol";
import { type Cluster, type EdgeEndpoint, startCluster } from "../testing/cluster.js";
import { E2E_ENV } from "./suite.js";

const PID_NAMESPACE = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"];
const canUnshare = spawnSync(PID_NAMESPACE[0]!, [...PID_NAMESPACE.slice(1), "true"]).status === 0;
// Under CI this must run (the image runs tests as root); elsewhere say why it did not.
const skip =
  canUnshare || process.env.CI === "true"
    ? false
    : "unshare --pid needs root (or user namespaces): edge identity tests skipped";

const PASSWORD = "correct horse battery staple";

describe("edge identity", { skip }, () => {
  const clusters: Cluster[] = [];
  const clients: ImppClient[] = [];
  after(async () => {
    for (const c of clients) c.destroy();
    for (const c of clusters) await c.stop();
  });
  const login = async (edge: EdgeEndpoint, name: string, deviceName: string) => {
    const c = await connectAndLogin({
      host: edge.host,
      port: edge.port,
      rejectUnauthorized: false,
      timeoutMs: 8000,
      name,
      password: PASSWORD,
      deviceName,
    });
    clients.push(c);
    return c;
  };
  const user = async (cluster: Cluster, prefix: string) => {
    const name = `${prefix}${randomBytes(4).toString("hex")}`;
    await cluster.addUser(name, PASSWORD);
    return name;
  };

  test("unshare works here", () => assert.ok(canUnshare, "unshare --pid --fork --mount-proc failed"));

  test("two edges as PID 1 with one host name get different ids and both deliver", async () => {
    const cluster = await startCluster({
      mode: "distributed",
      edges: 2,
      env: E2E_ENV,
      edgeWrapper: PID_NAMESPACE,
      edgePrefix: null, // both take the host name, as containers sharing the host's network do
    });
    clusters.push(cluster);
    const [a, b] = cluster.edges as [EdgeEndpoint, EdgeEndpoint];
    assert.equal(a.ownPid, 1);
    assert.equal(b.ownPid, 1);
    const prefix = toSubjectToken(hostname()).slice(0, 53);
    assert.ok(a.edgeId.startsWith(`${prefix}-`), a.edgeId);
    assert.ok(b.edgeId.startsWith(`${prefix}-`), b.edgeId);
    assert.notEqual(a.edgeId, b.edgeId);

    const alice = await user(cluster, "alice");
    const bob = await user(cluster, "bob");
    const ca = await login(a, alice, "desk");
    const cb = await login(b, bob, "desk");
    await befriend({ client: ca, name: alice }, { client: cb, name: bob });
    assert.equal((await ca.sendIm(bob, "to the edge in the other namespace")).isError, false);
    const gotB = await cb.nextIndication(isIm);
    assert.equal(gotB.tlvs.first(ImTlv.MESSAGE_CHUNK)?.toString(), "to the edge in the other namespace");
    assert.equal((await cb.sendIm(alice, "and back")).isError, false);
    const gotA = await ca.nextIndication(isIm);
    assert.equal(gotA.tlvs.first(ImTlv.MESSAGE_CHUNK)?.toString(), "and back");
  });

  test("an edge killed with 7 devices and restarted within the TTL leaves no ghosts", async () => {
    const cluster = await startCluster({
      mode: "distributed",
      edges: 2,
      // A TTL far longer than the test: only the restarted edge's retiring of its earlier
      // incarnation can make the ghosts go in time.
      env: { ...E2E_ENV, IMPP_EDGE_TTL_MS: "120000", IMPP_MAX_DEVICES: "10" },
      edgeWrapper: PID_NAMESPACE,
    });
    clusters.push(cluster);
    const name = await user(cluster, "carol");
    const watcher = await login(cluster.edges[0]!, name, "watcher");
    for (let i = 0; i < 7; i++) await login(cluster.edges[1]!, name, `phone${i}`);
    const before = cluster.edges[1]!;

    await cluster.killEdge(1, "SIGKILL");
    const again = await cluster.restartEdge(1);
    assert.equal(again.ownPid, 1, "PID 1 again, as a restarted container");
    assert.notEqual(again.edgeId, before.edgeId, "a new id for the new incarnation");

    // The watcher hears every ghost go (well before the 120 s TTL).
    const gone = new Set<string>();
    while (gone.size < 7) {
      const f = await watcher.nextIndication(isDevice(DeviceType.UNBIND), 20_000);
      gone.add(String(f.tlvs.first(DeviceTlv.DEVICE_NAME)));
    }
    assert.deepEqual(
      [...gone].sort(),
      [0, 1, 2, 3, 4, 5, 6].map((i) => `phone${i}`),
    );

    // The devices reconnect: 1 + 7 ≤ 10, no TOO_MANY_DEVICES from ghosts (1 + 7 + 7 would be).
    for (let i = 0; i < 7; i++) await login(again, name, `phone${i}`);
    const last = await login(cluster.edges[0]!, name, "laptop");
    assert.equal(last.closed, false);
  });
});

const isIm = (f: ResponseFrame) => f.family === Family.IM && f.type === ImType.MESSAGE_SEND && f.isIndication;
const isDevice = (type: number) => (f: ResponseFrame) =>
  f.family === Family.DEVICE && f.type === type && f.isIndication;
