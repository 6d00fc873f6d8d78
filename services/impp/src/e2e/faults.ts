// Fault injection: a sender streams numbered IMs while a process of the cluster is killed with
// SIGKILL and restarted. Every message the sender got ok for must, at the end, have been received
// by the recipient's device or be returned by OFFLINE_MESSAGES_GET; refusals and requests left
// unanswered by the kill are reported, never counted as sent.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { befriend, connectAndLogin, type ImppClient } from "@impp/client";
import { Family, ImTlv, ImType } from "@impp/protocol";
import { type Cluster, type ClusterMode, startCluster } from "../testing/cluster.js";
import { E2E_ENV, takeOffline } from "./suite.js";

export const PASSWORD = "correct horse battery staple";

export interface StreamCounts {
  sent: number;
  ok: number[];
  refused: number;
  unanswered: number;
}

export async function login(
  cluster: Cluster,
  name: string,
  edge: number,
  deviceName?: string,
): Promise<ImppClient> {
  const e = cluster.edges[edge]!;
  return await connectAndLogin({
    host: e.host,
    port: e.port,
    rejectUnauthorized: false,
    timeoutMs: 8000,
    name,
    password: PASSWORD,
    ...(deviceName === undefined ? {} : { deviceName }),
  });
}

export async function newUser(cluster: Cluster, prefix: string): Promise<string> {
  const name = `${prefix}${randomBytes(4).toString("hex")}`;
  await cluster.addUser(name, PASSWORD);
  return name;
}

/** Makes two users contacts who see each other (only contacts may message, §4.4), then logs both out. */
export async function friends(cluster: Cluster, a: string, b: string): Promise<void> {
  const ca = await login(cluster, a, 0, "setup");
  const cb = await login(cluster, b, 0, "setup");
  try {
    await befriend({ client: ca, name: a }, { client: cb, name: b });
  } finally {
    ca.destroy();
    cb.destroy();
  }
}

const idOf = (i: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(i);
  return b;
};

/** Sends IM i = 0..n-1 one after the other; `at(i)` runs before message i (the fault, the restart). */
export async function stream(
  sender: () => ImppClient,
  to: string,
  n: number,
  at: (i: number) => Promise<void> | void,
): Promise<StreamCounts> {
  const counts: StreamCounts = { sent: 0, ok: [], refused: 0, unanswered: 0 };
  for (let i = 0; i < n; i++) {
    await at(i);
    counts.sent++;
    try {
      const res = await sender().sendIm(to, `message ${i}`, { messageId: idOf(i) });
      if (res.isError) counts.refused++;
      else counts.ok.push(i);
    } catch {
      counts.unanswered++;
    }
  }
  return counts;
}

/** Numbers of the IMs a client receives (listen before anything is sent). */
export function collect(c: ImppClient, into: number[]): void {
  c.on("frame", (f) => {
    if (f.family === Family.IM && f.type === ImType.MESSAGE_SEND && f.isIndication) {
      into.push(f.tlvs.first(ImTlv.MESSAGE_ID)!.readUInt32BE(0));
    }
  });
}

export interface Verdict {
  line: string;
  lost: number[];
}

/** Checks the promise and returns the counts line for the report. */
export async function verdict(
  name: string,
  counts: StreamCounts,
  received: number[],
  recipient: ImppClient,
): Promise<Verdict> {
  const stored = (await takeOffline(recipient)).map((hex) => Buffer.from(hex, "hex").readUInt32BE(0));
  const got = new Set([...received, ...stored]);
  const lost = counts.ok.filter((i) => !got.has(i));
  const both = received.filter((i) => stored.includes(i)).length;
  const line =
    `${name}: sent ${counts.sent}, ok ${counts.ok.length}, refused ${counts.refused}, ` +
    `unanswered ${counts.unanswered}, delivered ${new Set(received).size}, stored ${stored.length}, ` +
    `delivered and stored ${both}, lost ${lost.length}`;
  assert.deepEqual(lost, [], `${line}: acknowledged messages lost`);
  assert.equal(new Set(stored).size, stored.length, `${line}: stored twice`);
  assert.deepEqual(
    stored,
    [...stored].sort((a, b) => a - b),
    `${line}: stored out of order`,
  );
  // Per-sender order among what each connection received (several connections: each in order).
  return { line, lost };
}

/** Every connection's received numbers must be increasing. */
export function assertInOrder(received: number[], what: string): void {
  for (let i = 1; i < received.length; i++) {
    assert.ok(received[i]! > received[i - 1]!, `${what}: ${received[i]} after ${received[i - 1]}`);
  }
}

/**
 * kill -9 of the recipient's edge while IMs stream to it: the recipient is online, goes offline with
 * its edge, and comes back on the restarted edge. Every acknowledged message is received or stored.
 */
export function recipientEdgeKillTest(mode: ClusterMode): void {
  let cluster: Cluster;
  const clients: ImppClient[] = [];
  before(async () => {
    cluster = await startCluster({
      mode,
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
}
