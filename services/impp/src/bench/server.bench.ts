// `npm run bench`: drives a running server with the real client library and prints
// figures — for the embedded mode (one server process) and the distributed mode
// (services + two edges on NATS, Redis and PostgreSQL):
//   - connections established per second (TLS + login + bind)
//   - server RSS per idle bound connection, at 1k and 10k connections
//   - IM throughput for 500 sender→receiver pairs, p50/p99 end-to-end latency,
//     server CPU seconds and messages per CPU-second.
// Settings: IMPP_BENCH_MODES (embedded,distributed), IMPP_BENCH_CONNECTIONS (1000,10000),
// IMPP_BENCH_PAIRS (500), IMPP_BENCH_SECONDS (10), IMPP_BENCH_WINDOW (per-sender messages in flight, 4).
import { readFileSync } from "node:fs";
import { connectAndLogin, type ImppClient, type ResponseFrame } from "@impp/client";
import { Family, ImTlv, ImType } from "@impp/protocol";
import { type Cluster, type ClusterMode, startCluster } from "../testing/cluster.js";

const env = process.env;
const MODES = (env.IMPP_BENCH_MODES ?? "embedded,distributed").split(",").map((s) => s.trim());
const STEPS = (env.IMPP_BENCH_CONNECTIONS ?? "1000,10000").split(",").map(Number);
const PAIRS = Number(env.IMPP_BENCH_PAIRS ?? 500);
const SECONDS = Number(env.IMPP_BENCH_SECONDS ?? 10);
const WINDOW = Number(env.IMPP_BENCH_WINDOW ?? 4);
const CONCURRENCY = 64; // logins in flight while connecting
const USERS = 100; // accounts the connection test spreads its devices over
const PASSWORD = "bench password";

const SERVER_ENV: Record<string, string> = {
  IMPP_MAX_DEVICES: String(Math.ceil(Math.max(...STEPS, 200, 2 * PAIRS) / USERS) + 10),
  IMPP_MAX_CONNECTIONS: "200000",
  IMPP_IDLE_TIMEOUT_MS: "3600000",
  IMPP_LOGIN_ATTEMPTS_PER_ADDRESS: "1000000",
  IMPP_REQUEST_TIMEOUT_MS: "30000",
};

const progress = (s: string) => process.stderr.write(`\r\x1b[K${s}`);
const line = (s: string) => process.stdout.write(`${s}\n`);

interface ProcStat {
  rss: number;
  cpu: number;
}

const TICK = 100; // USER_HZ on Linux
function procStat(pid: number): ProcStat {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpu = (Number(fields[11]) + Number(fields[12])) / TICK;
  return { rss: rssKb * 1024, cpu };
}
function sumStat(pids: number[]): ProcStat {
  return pids
    .map(procStat)
    .reduce((a, b) => ({ rss: a.rss + b.rss, cpu: a.cpu + b.cpu }), { rss: 0, cpu: 0 });
}

async function pool<T>(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
  label: string,
): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      out[i] = await fn(i);
      done++;
      if (done % 100 === 0 || done === count) progress(`${label}: ${done}/${count}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  progress("");
  return out;
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

async function benchMode(mode: ClusterMode): Promise<void> {
  line(
    `\n== ${mode === "distributed" ? "distributed (services + 2 edges, NATS/Redis/Postgres)" : "embedded (one process)"} ==`,
  );
  progress("starting the server…");
  const cluster = await startCluster({
    mode,
    env: SERVER_ENV,
    ...(mode === "distributed" ? { edges: 2 } : {}),
  });
  const clients: ImppClient[] = [];
  try {
    const users = await pool(
      USERS,
      8,
      async (i) => {
        const name = `bench${i}`;
        await cluster.addUser(name, PASSWORD);
        return name;
      },
      "creating accounts",
    );
    const connect = (i: number, name: string = users[i % USERS]!) => {
      const edge = cluster.edges[i % cluster.edges.length]!;
      return connectAndLogin({
        host: edge.host,
        port: edge.port,
        rejectUnauthorized: false,
        timeoutMs: 60_000,
        name,
        password: PASSWORD,
      });
    };

    // Warm up (JIT, pools, argon2's memory), then take the baseline with nobody connected.
    // Memory per connection is read off the processes that hold the connections (the edges):
    // in the embedded mode that process also hashes passwords, so the marginal figure between
    // steps is the one to trust there.
    const edgePids = cluster.edges.map((e) => e.pid);
    const warm = await pool(200, CONCURRENCY, (i) => connect(i), "warming up");
    await Promise.all(warm.map((c) => c.close()));
    await sleep(5000);
    const base = sumStat(edgePids);
    line(
      `edge RSS with no connections: ${mb(base.rss)} (all server processes: ${mb(sumStat(cluster.pids()).rss)})`,
    );

    // Connection rate and memory per idle bound connection.
    let prev = { n: 0, rss: base.rss };
    for (const target of STEPS) {
      const start = clients.length;
      const t0 = performance.now();
      const opened = await pool(
        target - start,
        CONCURRENCY,
        (i) => connect(start + i),
        `connecting to ${target}`,
      );
      const secs = (performance.now() - t0) / 1000;
      clients.push(...opened);
      await sleep(3000);
      const now = sumStat(edgePids);
      line(
        `${target} connections: ${(opened.length / secs).toFixed(0)} connections/s (TLS + login + bind); ` +
          `edge RSS ${mb(now.rss)}: ${kb((now.rss - base.rss) / target)} per idle bound connection ` +
          `(${kb((now.rss - prev.rss) / (target - prev.n))} each for the last ${target - prev.n})`,
      );
      prev = { n: target, rss: now.rss };
    }
    progress("closing connections…");
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
    await sleep(1500);

    // IM throughput: PAIRS senders, PAIRS receivers (on the other edge when there are two).
    // One account per side of each pair, one device each: every message is delivered exactly
    // once and copied to nobody, so "delivered" counts messages, not fan-out.
    const pairNames = await pool(
      2 * PAIRS,
      8,
      async (i) => {
        const name = `pair${i}`;
        await cluster.addUser(name, PASSWORD);
        return name;
      },
      "creating pair accounts",
    );
    // Sender 2i and receiver 2i+1 land on different edges when there are two.
    const receivers = await pool(
      PAIRS,
      CONCURRENCY,
      (i) => connect(2 * i + 1, pairNames[2 * i + 1]),
      "connecting receivers",
    );
    const senders = await pool(
      PAIRS,
      CONCURRENCY,
      (i) => connect(2 * i, pairNames[2 * i]),
      "connecting senders",
    );
    clients.push(...receivers, ...senders);
    // Light load first (one pair, one message in flight: the latency of the path itself),
    // then the full load.
    await imRun(cluster, senders.slice(0, 1), receivers.slice(0, 1), 1, Math.min(3, SECONDS));
    await imRun(cluster, senders, receivers, WINDOW, SECONDS);
  } finally {
    progress("stopping…");
    for (const c of clients) c.destroy();
    await cluster.stop();
    progress("");
  }
}

/** Each sender writes to its receiver (another account), so every message crosses the bus. */
async function imRun(
  cluster: Cluster,
  senders: ImppClient[],
  receivers: ImppClient[],
  window: number,
  seconds: number,
): Promise<void> {
  const latencies: number[] = [];
  let delivered = 0;
  let failed = 0;
  const onFrame = (f: ResponseFrame) => {
    if (f.family !== Family.IM || f.type !== ImType.MESSAGE_SEND || !f.isIndication) return;
    const chunk = f.tlvs.first(ImTlv.MESSAGE_CHUNK);
    if (!chunk || chunk.length < 8) return;
    delivered++;
    latencies.push(performance.now() - chunk.readDoubleBE(0));
  };
  for (const r of receivers) r.on("frame", onFrame);
  const before = sumStat(cluster.pids());
  const clientCpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const ticker = setInterval(() => progress(`IM: ${delivered} delivered`), 500);
  const payload = Buffer.alloc(64, 0x61); // ~100-byte MESSAGE_SEND frames
  await Promise.all(
    senders.map(async (s, i) => {
      const to = receivers[i]!.account!;
      const lane = async () => {
        while (performance.now() < deadline) {
          payload.writeDoubleBE(performance.now(), 0);
          const res = await s.sendIm(to, "", { chunk: Buffer.from(payload) });
          if (res.isError) failed++;
        }
      };
      await Promise.all(Array.from({ length: window }, lane));
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(ticker);
  await sleep(500);
  for (const r of receivers) r.off("frame", onFrame);
  const after = sumStat(cluster.pids());
  const clientCpu = process.cpuUsage(clientCpu0);
  progress("");
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  const cpu = after.cpu - before.cpu;
  line(
    `IM, ${senders.length} pair(s) × ${window} in flight for ${elapsed.toFixed(1)} s: ${(delivered / elapsed).toFixed(0)} messages/s delivered, ` +
      `latency p50 ${pct(0.5).toFixed(2)} ms, p99 ${pct(0.99).toFixed(2)} ms` +
      (failed > 0 ? `, ${failed} refused` : ""),
  );
  line(
    `  server CPU ${cpu.toFixed(2)} s (${(cpu / elapsed).toFixed(2)} cores): ` +
      `${(delivered / cpu).toFixed(0)} messages per server CPU-second; ` +
      `the benchmark's own client used ${((clientCpu.user + clientCpu.system) / 1e6 / elapsed).toFixed(2)} cores ` +
      `(NATS, Redis and PostgreSQL not counted)`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

for (const m of MODES) {
  const mode: ClusterMode = m === "embedded" ? "embedded-process" : (m as ClusterMode);
  await benchMode(mode);
}
process.exit(0);
