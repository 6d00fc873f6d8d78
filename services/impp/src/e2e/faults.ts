// Fault injection: a sender streams numbered IMs while a process of the cluster is killed with
// SIGKILL and restarted. Every message the sender got ok for must, at the end, have been received
// by the recipient's device or be returned by OFFLINE_MESSAGES_GET; refusals and requests left
// unanswered by the kill are reported, never counted as sent.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { befriend, connectAndLogin, type ImppClient } from "@impp/client";
import { Family, ImTlv, ImType } from "@impp/protocol";
import {
  type Cluster,
  type ClusterMode,
  type ClusterPart,
  partName,
  startCluster,
} from "../testing/cluster.js";
import { E2E_ENV, takeOffline } from "./suite.js";

export const PASSWORD = "correct horse battery staple";

export interface StreamCounts {
  sent: number;
  ok: number[];
  refused: number;
  unanswered: number;
  /** Which messages were refused (an error response) and which got no response at all. */
  refusedIds: number[];
  unansweredIds: number[];
  /** Refusals by error code. */
  codes: Map<number, number>;
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

/**
 * login, retried for up to `withinMs` while the server answers SERVICE_UNAVAILABLE or the
 * connection fails — what a client does while a restarted part (Redis, Postgres, NATS) is being
 * reconnected to by the server's clients, which back off for up to 2 s.
 */
export async function loginRetrying(
  cluster: Cluster,
  name: string,
  edge: number,
  deviceName?: string,
  withinMs = 15_000,
): Promise<ImppClient> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await login(cluster, name, edge, deviceName);
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(250);
    }
  }
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

/**
 * Sends IM i = 0..n-1 one after the other; `at(i)` runs before message i (the fault, the restart).
 * With `intervalMs`, messages are sent at least that far apart: fast refusals during an outage
 * then do not use up the numbers meant for the phases after it.
 */
export async function stream(
  sender: () => ImppClient,
  to: string,
  n: number,
  at: (i: number) => Promise<void> | void,
  intervalMs = 0,
): Promise<StreamCounts> {
  const counts: StreamCounts = {
    sent: 0,
    ok: [],
    refused: 0,
    unanswered: 0,
    refusedIds: [],
    unansweredIds: [],
    codes: new Map(),
  };
  let last = -Infinity;
  for (let i = 0; i < n; i++) {
    await at(i);
    const wait = last + intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    last = performance.now();
    counts.sent++;
    try {
      const res = await sender().sendIm(to, `message ${i}`, { messageId: idOf(i) });
      if (res.isError) {
        counts.refused++;
        counts.refusedIds.push(i);
        const code = res.errorCode ?? -1;
        counts.codes.set(code, (counts.codes.get(code) ?? 0) + 1);
      } else counts.ok.push(i);
    } catch {
      counts.unanswered++;
      counts.unansweredIds.push(i);
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

export interface KillScenario {
  /** The process killed with SIGKILL (twice: recipient online, then recipient offline). */
  part: ClusterPart;
  /** Messages streamed (default 300). */
  messages?: number;
  /** How long the part stays dead before it is restarted (default 1000 ms). */
  downMs?: number;
  /**
   * After the restart, how long the phases wait before the recipient changes state (the server's
   * clients reconnect with back-off: ioredis up to 2 s, NATS 1 s); the stream goes on meanwhile.
   * Default 1500 ms for redis and nats, 0 otherwise.
   */
  settleMs?: number;
  /** Pace of the stream: at least this long between two sends (default 10 ms). */
  intervalMs?: number;
}

export interface ScenarioResult {
  counts: StreamCounts;
  /** What each of the recipient's connections received, in arrival order. */
  received: number[][];
  stored: number[];
  /** The counts line: sent, ok, refused, unanswered, delivered, stored, both, lost. */
  line: string;
  /** Acknowledged messages neither received nor stored. */
  lost: number[];
  /** Received and also stored (the at-least-once windows). */
  both: number[];
  /** Received twice on one connection. */
  twice: number[];
  /**
   * Acknowledged while the recipient's first connection was open (before it went offline at n/3)
   * and stored rather than delivered to it: its edge was dead, or its registration was lost.
   */
  storedWhileConnected: number;
}

/**
 * The sender (edge 0) streams numbered IMs to a recipient on edge 1. The recipient is online for
 * the first third, offline for the second, back for the last. `part` is killed (SIGKILL) at n/6
 * (recipient online: the delivery path) and at n/2 (recipient offline: the store path), each time
 * restarted `downMs` later while the stream goes on; at n/4 and 7n/12 the stream waits until the
 * part is back (and `settleMs`), so each phase also sees the recovered cluster. A client whose
 * connection died with a killed edge logs in again once it is back. At the end a reader drains
 * OFFLINE_MESSAGES_GET.
 */
export async function runKillScenario(cluster: Cluster, s: KillScenario): Promise<ScenarioResult> {
  const n = s.messages ?? 300;
  const downMs = s.downMs ?? 1000;
  const settleMs = s.settleMs ?? (s.part === "redis" || s.part === "nats" ? 1500 : 0);
  const alice = await newUser(cluster, "alice");
  const bob = await newUser(cluster, "bob");
  await friends(cluster, alice, bob);
  const clients: ImppClient[] = [];
  const track = (c: ImppClient) => {
    clients.push(c);
    return c;
  };
  try {
    let a = track(await login(cluster, alice, 0, "desk"));
    const received: number[][] = [];
    const online = async () => {
      const c = track(await loginRetrying(cluster, bob, 1, "phone"));
      const into: number[] = [];
      received.push(into);
      collect(c, into);
      return c;
    };
    let b: ImppClient | undefined = await online();
    let outage: Promise<void> = Promise.resolve();
    const fault = () => {
      outage = (async () => {
        await cluster.kill(s.part, "SIGKILL");
        await sleep(downMs);
        await cluster.restart(s.part);
        await sleep(settleMs);
      })();
      // Surfaced where it is awaited; never an unhandled rejection meanwhile.
      outage.catch(() => {});
    };
    const counts = await stream(
      () => a,
      bob,
      n,
      async (i) => {
        if (i === Math.floor(n / 6) || i === Math.floor(n / 2)) fault();
        // Each outage gets n/12 messages; then the stream waits for the restart, so every phase
        // also has messages sent after the part is back.
        if (i === Math.floor(n / 4) || i === Math.floor((7 * n) / 12)) await outage;
        if (i === Math.floor(n / 3)) {
          b?.destroy(); // the recipient goes offline
          b = undefined;
        }
        if (i === Math.floor((2 * n) / 3)) b = await online(); // and comes back
        // The sender's connection died with its edge: log in again once the edge is back.
        if (a.closed) {
          await outage;
          a = track(await loginRetrying(cluster, alice, 0, "desk"));
        }
      },
      s.intervalMs ?? 10,
    );
    await outage;
    await sleep(300); // the last deliveries' bytes
    const reader = track(await loginRetrying(cluster, bob, 0, "reader"));
    const stored = (await takeOffline(reader)).map((hex) => Buffer.from(hex, "hex").readUInt32BE(0));
    const r = judge(partName(s.part), counts, received, stored);
    r.storedWhileConnected = stored.filter((i) => i < Math.floor(n / 3) && counts.ok.includes(i)).length;
    return r;
  } finally {
    for (const c of clients) c.destroy();
  }
}

/** The promise, checked: see the file's head. Returns the figures for the report. */
export function judge(
  name: string,
  counts: StreamCounts,
  received: number[][],
  stored: number[],
): ScenarioResult {
  const delivered = new Set(received.flat());
  const storedSet = new Set(stored);
  const lost = counts.ok.filter((i) => !delivered.has(i) && !storedSet.has(i));
  const both = [...delivered].filter((i) => storedSet.has(i)).sort((x, y) => x - y);
  const twice = received.flatMap((r) => r.filter((x, k) => r.indexOf(x) !== k));
  const line =
    `${name}: sent ${counts.sent}, ok ${counts.ok.length}, refused ${counts.refused}, ` +
    `unanswered ${counts.unanswered}, delivered ${delivered.size}, stored ${stored.length}, ` +
    `both ${both.length}, lost ${lost.length}` +
    (counts.codes.size > 0
      ? ` (refusal codes ${[...counts.codes].map(([c, k]) => `0x${c.toString(16)}×${k}`).join(", ")})`
      : "");
  assert.deepEqual(lost, [], `${line}: acknowledged messages lost`);
  assert.equal(counts.ok.length + counts.refused + counts.unanswered, counts.sent, line);
  assert.deepEqual(twice, [], `${line}: received twice on one connection`);
  assert.equal(storedSet.size, stored.length, `${line}: stored twice`);
  // Per-sender order among acknowledged messages: the sender waited for each ok before the next.
  const acked = new Set(counts.ok);
  for (const [k, r] of received.entries())
    assertInOrder(
      r.filter((i) => acked.has(i)),
      `${line}: connection ${k}`,
    );
  assertInOrder(
    stored.filter((i) => acked.has(i)),
    `${line}: stored`,
  );
  return { counts, received, stored, line, lost, both, twice, storedWhileConnected: 0 };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
