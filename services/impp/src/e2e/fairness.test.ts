// Issue #11's CPU-amplification attack against a real server in a child process (so the attackers'
// client work in this process is not the server's): one account, compression on, 16 connections
// pipelining STREAM PINGs whose 296-byte zlib block inflates to 262,140 bytes of 65,535 empty TLVs.
// A bystander's PING latency under attack is compared with its own baseline in the same run — a
// ratio, never a timed assertion. Before the fix: p50 11 s, max 17 s (1 ms baseline).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { ImppClient } from "@impp/client";
import { deflateBlock, encodeFrame, Family, StreamType, TlvWriter } from "@impp/protocol";
import { type Cluster, startCluster } from "../testing/cluster.js";
import { login, newUser, PASSWORD } from "./faults.js";
import { E2E_ENV } from "./suite.js";

const ATTACKERS = 16;
const PER_ATTACKER = 300;
const SAMPLES = 40;

/** The attack block: 65,535 empty TLVs (262,140 bytes), deflated. */
function bombFrame(sequence: number, compressed: Buffer): Buffer {
  return encodeFrame({ flags: 0, family: Family.STREAM, type: StreamType.PING, sequence }, compressed);
}

async function pingTimes(c: ImppClient, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await c.ping();
    assert.equal(r.isError, false);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

const p50 = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
const max = (xs: number[]) => xs[xs.length - 1]!;

async function attackRun(
  label: string,
  env: Record<string, string>,
): Promise<{ line: string; ratioP50: number; ratioMax: number; answeredDuring: number; sent: number }> {
  let cluster: Cluster | undefined;
  const clients: ImppClient[] = [];
  try {
    cluster = await startCluster({ mode: "embedded-process", env: { ...E2E_ENV, ...env } });
    const edge = cluster.edges[0]!;
    const bystander = await login(cluster, await newUser(cluster, "bystander"), 0);
    clients.push(bystander);
    await pingTimes(bystander, 10); // warm-up
    const base = await pingTimes(bystander, SAMPLES);

    const mallory = await newUser(cluster, "mallory");
    const bomb = Buffer.from(new TlvWriter(262_140).raw(Buffer.alloc(262_140)).finish());
    const compressed = deflateBlock(bomb);
    let answered = 0;
    for (let i = 0; i < ATTACKERS; i++) {
      const c = await ImppClient.connect({
        host: edge.host,
        port: edge.port,
        rejectUnauthorized: false,
        compression: true,
        timeoutMs: 20_000,
      });
      clients.push(c);
      assert.equal((await c.authenticate(mallory, PASSWORD)).isError, false);
      c.on("frame", () => {
        answered++;
      });
    }
    for (const c of clients.slice(1)) {
      const frames: Buffer[] = [];
      for (let k = 0; k < PER_ATTACKER; k++) frames.push(bombFrame(1_000_000 + k, compressed));
      c.writeRaw(Buffer.concat(frames));
    }
    const before = answered;
    const under = await pingTimes(bystander, SAMPLES);
    const answeredDuring = answered - before;
    const sent = ATTACKERS * PER_ATTACKER;
    const ratioP50 = p50(under) / p50(base);
    const ratioMax = max(under) / max(base);
    const line =
      `${label}: block ${compressed.length} B → ${bomb.length} B; baseline p50 ${p50(base).toFixed(2)} ms max ${max(base).toFixed(2)} ms; ` +
      `under attack p50 ${p50(under).toFixed(2)} ms max ${max(under).toFixed(2)} ms; ratio p50 ${ratioP50.toFixed(1)}× max ${ratioMax.toFixed(1)}×; ` +
      `attack PINGs answered while measuring ${answeredDuring} of ${sent} (before ${before})`;
    return { line, ratioP50, ratioMax, answeredDuring: answeredDuring + before, sent };
  } finally {
    for (const c of clients) c.destroy();
    await cluster?.stop();
  }
}

describe("fairness: one account's 16 compressed connections pipelining zip-bomb PINGs", () => {
  after(() => {});

  test("with the default work allowances, a bystander's PING stays near its baseline", async (t) => {
    const r = await attackRun("default allowances", { IMPP_COMPRESSION: "true" });
    t.diagnostic(r.line);
    assert.ok(r.answeredDuring < r.sent, "the attack was still going on while the bystander was measured");
    assert.ok(r.ratioP50 < 20, r.line);
  });

  test("with the allowances out of the way, round-robin slices alone keep the bystander's wait to a slice per attacker", async (t) => {
    const r = await attackRun("round-robin only", {
      IMPP_CONNECTION_WORK_RATE: String(1024 * 1024 * 1024),
      IMPP_ACCOUNT_WORK_RATE: String(1024 * 1024 * 1024),
    });
    t.diagnostic(r.line);
    assert.ok(r.answeredDuring < r.sent, "the attack was still going on while the bystander was measured");
    // Before slices the same measurement was ≈ 11,000× (p50 11 s against 1 ms). With slices alone
    // it measured 4–53× on this shared 2-core machine depending on its load, so the bound only
    // separates "served between slices" from "served after the attack": a tighter one is noise.
    assert.ok(r.ratioP50 < 500, r.line);
  });
});
