// `npm run bench`: drives a running server with the real client library and prints
// figures — for the embedded mode (one server process) and the distributed mode
// (services + two edges on NATS, Redis and PostgreSQL):
//   - connections established per second (TLS + login + bind)
//   - server RSS per idle bound connection, at 1k and 10k connections
//   - IM throughput for 500 sender→receiver pairs, p50/p99 end-to-end latency,
//     server CPU seconds and messages per CPU-second.
//   - presence fan-out: one user watched by IMPP_BENCH_WATCHERS (1000) users on two edges changes
//     status; time until the last watcher has the UPDATE, and server CPU per change
//   - a login storm: IMPP_BENCH_STORM (1000) users with 100 contacts each (seeded) log in and send
//     PRESENCE GET: logins/s and presence indications/s delivered.
//   - offline messages: IMPP_BENCH_PAIRS senders to as many offline recipients (contacts, seeded):
//     messages/s stored, server CPU and (distributed) Postgres CPU per stored message; then
//     OFFLINE_MESSAGES_GET + DELETE for a user with IMPP_BENCH_HOARD (10000) stored messages.
//     Once per IMPP_BENCH_OFFLINE_BATCH value (256,1: group commit on, then off), each on a
//     fresh server.
// Settings: IMPP_BENCH_MODES (embedded,distributed), IMPP_BENCH_CONNECTIONS (1000,10000),
// IMPP_BENCH_PAIRS (500), IMPP_BENCH_SECONDS (10), IMPP_BENCH_WINDOW (per-sender messages in flight, 4),
// IMPP_BENCH_RATE (IM messages/s offered in all by the full IM run, paced; 0 = as fast as the window allows),
// IMPP_BENCH_PARTS (connections,im,presence,storm,offline), IMPP_BENCH_NODE_ARGS (flags for the
// server processes, e.g. --cpu-prof), IMPP_BENCH_VERBOSE=1 (the servers' log on stderr).
// IMPP_BENCH_GROUPS=1 runs, instead of the above, the group-chat and avatar figures: a group of
// IMPP_BENCH_GROUP_SIZE (200) members online across the edges — group messages/s and p50/p99 time
// until the last member has a message — and avatar GETs/s from 500 clients for 50 distinct avatars.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { hashPassword } from "@impp/auth";
import { befriend, connectAndLogin, type ImppClient, type ResponseFrame } from "@impp/client";
import {
  AvatarTlv,
  AvatarType,
  Family,
  GroupChatsTlv,
  GroupChatsType,
  ImTlv,
  ImType,
  ListsType,
  PresenceTlv,
  PresenceType,
  Status,
  TlvWriter,
} from "@impp/protocol";
import type { Store } from "@impp/store";
import { sql } from "kysely";
import { type Cluster, type ClusterMode, startCluster } from "../testing/cluster.js";
import { line, pool, procStat, progress, sumStat } from "./common.js";

const env = process.env;
const MODES = (env.IMPP_BENCH_MODES ?? "embedded,distributed").split(",").map((s) => s.trim());
const STEPS = (env.IMPP_BENCH_CONNECTIONS ?? "1000,10000").split(",").map(Number);
const PAIRS = Number(env.IMPP_BENCH_PAIRS ?? 500);
const SECONDS = Number(env.IMPP_BENCH_SECONDS ?? 10);
const WINDOW = Number(env.IMPP_BENCH_WINDOW ?? 4);
const RATE = Number(env.IMPP_BENCH_RATE ?? 0);
const PARTS = new Set(
  (env.IMPP_BENCH_PARTS ?? "connections,im,presence,storm,offline").split(",").map((s) => s.trim()),
);
const HOARD = Number(env.IMPP_BENCH_HOARD ?? 10_000);
const OFFLINE_BATCHES = (env.IMPP_BENCH_OFFLINE_BATCH ?? "256,1").split(",").map((s) => s.trim());
const WATCHERS = Number(env.IMPP_BENCH_WATCHERS ?? 1000);
const STORM = Number(env.IMPP_BENCH_STORM ?? 1000);
const STORM_CONTACTS = 100;
const GROUPS = env.IMPP_BENCH_GROUPS === "1";
const GROUP_SIZE = Number(env.IMPP_BENCH_GROUP_SIZE ?? 200);
/**
 * Distributed: which of NATS and Redis the cluster runs as its own processes (default both), so
 * their CPU is theirs alone and reported next to the server's; "" uses the shared ones.
 */
const OWN_INFRA = (env.IMPP_BENCH_OWN_INFRA ?? "nats,redis")
  .split(",")
  .map((s) => s.trim())
  .filter((s): s is "nats" | "redis" => s === "nats" || s === "redis");
/** Extra node flags for the server processes, space-separated (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). */
const NODE_ARGS = (env.IMPP_BENCH_NODE_ARGS ?? "").split(" ").filter((s) => s !== "");
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

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

async function benchMode(mode: ClusterMode): Promise<void> {
  line(
    `\n== ${mode === "distributed" ? "distributed (services + 2 edges, NATS/Redis/Postgres)" : "embedded (one process)"} ==`,
  );
  progress("starting the server…");
  const stormHash = PARTS.has("storm") ? await hashPassword(PASSWORD) : "";
  const cluster = await startCluster({
    mode,
    env: SERVER_ENV,
    nodeArgs: NODE_ARGS,
    verbose: env.IMPP_BENCH_VERBOSE === "1",
    ...(mode === "distributed" ? { edges: 2, ownInfra: OWN_INFRA } : {}),
    ...(PARTS.has("storm") ? { seed: (store: Store) => seedStorm(store, stormHash) } : {}),
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
    for (const target of PARTS.has("connections") ? STEPS : []) {
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

    if (PARTS.has("im")) await imBench(cluster, connect, clients);
    if (PARTS.has("presence")) await presenceBench(cluster, connect, clients);
    if (PARTS.has("storm")) await stormBench(cluster, connect);
  } finally {
    progress("stopping…");
    for (const c of clients) c.destroy();
    await cluster.stop();
    progress("");
  }
}

type Connect = (i: number, name?: string) => Promise<ImppClient>;

async function imBench(cluster: Cluster, connect: Connect, clients: ImppClient[]): Promise<void> {
  {
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
    // Only contacts may message each other (§4.4): every pair befriends first, as users would.
    await pool(
      PAIRS,
      16,
      (i) =>
        befriend(
          { client: senders[i]!, name: pairNames[2 * i]! },
          { client: receivers[i]!, name: pairNames[2 * i + 1]! },
        ),
      "befriending pairs",
    );
    for (const c of [...senders, ...receivers]) c.drainIndications();
    // Light load first (one pair, one message in flight: the latency of the path itself),
    // then the full load.
    await imRun(cluster, senders.slice(0, 1), receivers.slice(0, 1), 1, Math.min(3, SECONDS));
    await imRun(cluster, senders, receivers, WINDOW, SECONDS, RATE);
    progress("closing connections…");
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
  }
}

/** One user watched by WATCHERS users across the edges changes status; every watcher must hear it. */
async function presenceBench(cluster: Cluster, connect: Connect, clients: ImppClient[]): Promise<void> {
  const names = await pool(
    WATCHERS + 1,
    8,
    async (i) => {
      const name = `fan${i}`;
      await cluster.addUser(name, PASSWORD);
      return name;
    },
    "creating watcher accounts",
  );
  const star = await connect(0, names[0]);
  const watchers = await pool(
    WATCHERS,
    CONCURRENCY,
    (i) => connect(i + 1, names[i + 1]),
    "connecting watchers",
  );
  clients.push(star, ...watchers);
  // Each watcher asks, the star approves: the star's presence is theirs to see.
  await pool(
    WATCHERS,
    32,
    async (i) => {
      const r = await watchers[i]!.lists(ListsType.CONTACT_ADD, names[0]!);
      if (r.isError) throw new Error(`CONTACT_ADD: ${r.errorCode}`);
    },
    "watchers ask",
  );
  for (let i = 0; i < WATCHERS; i++) {
    const r = await star.lists(ListsType.CONTACT_APPROVE, names[i + 1]!);
    if (r.isError) throw new Error(`CONTACT_APPROVE: ${r.errorCode}`);
    if (i % 100 === 0) progress(`star approves: ${i}/${WATCHERS}`);
  }
  await sleep(1000);
  for (const w of watchers) w.drainIndications();
  const changes = 50;
  const times: number[] = [];
  const before = sumStat(cluster.pids());
  for (let k = 0; k < changes; k++) {
    const status = k % 2 === 0 ? Status.AWAY : Status.ONLINE;
    const isIt = (f: ResponseFrame) =>
      f.family === Family.PRESENCE &&
      f.type === PresenceType.UPDATE &&
      f.tlvs.string(PresenceTlv.FROM) === names[0] &&
      f.tlvs.u16(PresenceTlv.STATUS) === status;
    const t0 = performance.now();
    const all = Promise.all(watchers.map((w) => w.nextIndication(isIt, 60_000)));
    const r = await star.setPresence({ status });
    if (r.isError) throw new Error(`PRESENCE SET: ${r.errorCode}`);
    await all;
    times.push(performance.now() - t0);
    progress(`presence changes: ${k + 1}/${changes}`);
  }
  const cpu = sumStat(cluster.pids()).cpu - before.cpu;
  progress("");
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  line(
    `presence fan-out to ${WATCHERS} watchers on ${cluster.edges.length} edge(s): until the last watcher has the UPDATE ` +
      `p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms; server CPU ${((cpu / changes) * 1000).toFixed(1)} ms per change ` +
      `(${((cpu / changes / WATCHERS) * 1e6).toFixed(1)} µs per watcher told)`,
  );
  progress("closing connections…");
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
}

/** STORM users, each with STORM_CONTACTS contacts (a ring, approved both ways), seeded in the database. */
async function seedStorm(store: Store, hash: string): Promise<void> {
  const db = store.db;
  const names = Array.from({ length: STORM }, (_, i) => `storm${i}`);
  await sql`INSERT INTO accounts (name, password_hash) SELECT unnest(${names}::text[]), ${hash}`.execute(db);
  const owners: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < STORM; i++) {
    for (let k = 1; k <= STORM_CONTACTS / 2; k++) {
      for (const [a, b] of [
        [i, (i + k) % STORM],
        [(i + k) % STORM, i],
      ] as const) {
        owners.push(names[a]!);
        others.push(names[b]!);
      }
    }
  }
  for (const table of ["roster_contacts", "roster_approvals"] as const) {
    const other = table === "roster_contacts" ? "contact" : "watcher";
    await sql`INSERT INTO ${sql.table(table)} (owner, ${sql.ref(other)}) SELECT unnest(${owners}::text[]), unnest(${others}::text[]) ON CONFLICT DO NOTHING`.execute(
      db,
    );
  }
}

/** Everyone logs in and asks for presence: logins/s and presence UPDATEs delivered per second. */
async function stormBench(cluster: Cluster, connect: Connect): Promise<void> {
  let indications = 0;
  const storm: ImppClient[] = [];
  const before = sumStat(cluster.pids());
  const t0 = performance.now();
  await pool(
    STORM,
    CONCURRENCY,
    async (i) => {
      const c = await connect(i, `storm${i}`);
      storm.push(c);
      c.on("frame", (f) => {
        if (f.family === Family.PRESENCE && f.type === PresenceType.UPDATE && f.isIndication) indications++;
      });
      const r = await c.getPresence();
      if (r.isError) throw new Error(`PRESENCE GET: ${r.errorCode}`);
    },
    "login storm",
  );
  const loggedIn = (performance.now() - t0) / 1000;
  // Let the last GETs' indications and the presence fan-out of the last logins arrive.
  let last = -1;
  while (last !== indications) {
    last = indications;
    await sleep(1000);
  }
  const elapsed = (performance.now() - t0) / 1000 - 1;
  const cpu = sumStat(cluster.pids()).cpu - before.cpu;
  line(
    `login storm: ${STORM} users with ${STORM_CONTACTS} contacts each: ${(STORM / loggedIn).toFixed(0)} logins/s ` +
      `(TLS + login + bind + PRESENCE GET), ${indications} presence UPDATEs delivered, ` +
      `${(indications / elapsed).toFixed(0)}/s; server CPU ${cpu.toFixed(1)} s`,
  );
  for (const c of storm) c.destroy();
}

/** Each sender writes to its receiver (another account), so every message crosses the bus. */
async function imRun(
  cluster: Cluster,
  senders: ImppClient[],
  receivers: ImppClient[],
  window: number,
  seconds: number,
  rate = 0,
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
  const parts = cpuParts(cluster);
  const partsBefore = parts.map((p) => sumStat(p.pids).cpu);
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
        // Paced: each lane sends every `interval` ms from a random start; a late one goes at once.
        const interval = rate > 0 ? (senders.length * window * 1000) / rate : 0;
        let next = t0 + Math.random() * interval;
        while (performance.now() < deadline) {
          if (interval > 0) {
            const now = performance.now();
            const wait = Math.min(next, deadline) - now;
            next += interval;
            if (wait > 0) await sleep(wait);
            if (performance.now() >= deadline) break;
          }
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
  const partsCpu = parts.map((p, i) => sumStat(p.pids).cpu - partsBefore[i]!);
  const clientCpu = process.cpuUsage(clientCpu0);
  progress("");
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  const cpu = after.cpu - before.cpu;
  line(
    `IM, ${senders.length} pair(s) × ${window} in flight${rate > 0 ? ` at ${rate}/s offered` : ""} for ${elapsed.toFixed(1)} s: ${(delivered / elapsed).toFixed(0)} messages/s delivered, ` +
      `latency p50 ${pct(0.5).toFixed(2)} ms, p99 ${pct(0.99).toFixed(2)} ms` +
      (failed > 0 ? `, ${failed} refused` : ""),
  );
  line(
    `  server CPU ${cpu.toFixed(2)} s (${(cpu / elapsed).toFixed(2)} cores): ` +
      `${(delivered / cpu).toFixed(0)} messages per server CPU-second; ` +
      `the benchmark's own client used ${((clientCpu.user + clientCpu.system) / 1e6 / elapsed).toFixed(2)} cores ` +
      `(NATS, Redis and PostgreSQL not counted)`,
  );
  if (parts.length > 1) {
    line(
      `  CPU by process: ${parts.map((p, i) => `${p.name} ${partsCpu[i]!.toFixed(2)} s (${((partsCpu[i]! / delivered) * 1e6).toFixed(0)} µs/msg)`).join(", ")}`,
    );
  }
}

/** The server's processes by role, and the cluster's own NATS and Redis (their CPU is theirs alone). */
function cpuParts(cluster: Cluster): Array<{ name: string; pids: number[] }> {
  if (cluster.mode !== "distributed") return [];
  const edgePids = new Set(cluster.edges.map((e) => e.pid));
  const out = [
    { name: "services", pids: cluster.pids().filter((p) => !edgePids.has(p)) },
    { name: "edges", pids: [...edgePids] },
  ];
  for (const kind of ["nats", "redis"] as const) {
    const p = cluster.infra[kind];
    if (p !== undefined) out.push({ name: `${kind}-server`, pids: [p.pid()] });
  }
  return out;
}

/**
 * CPU seconds of PostgreSQL server processes (cmdline "postgres: …", as Postgres retitles them):
 * all of them (the machine's shared server: its WAL writer and checkpointer, and other users'
 * backends too) and those serving `database`. Backends that exit meanwhile drop out of the sum:
 * the pools keep theirs open for the run.
 */
function postgresCpu(database: string | undefined): { all: number; ours: number } {
  let all = 0;
  let ours = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (!cmd.startsWith("postgres:")) continue;
      const cpu = procStat(Number(d)).cpu;
      all += cpu;
      if (database !== undefined && cmd.includes(` ${database} `)) ours += cpu;
    } catch {
      // exited meanwhile
    }
  }
  return { all, ours };
}

/** OFFLINE senders→recipients pairs (contacts both ways) and one user with HOARD stored messages. */
async function seedOffline(store: Store, hash: string): Promise<void> {
  const db = store.db;
  const senders = Array.from({ length: PAIRS }, (_, i) => `osend${i}`);
  const recipients = Array.from({ length: PAIRS }, (_, i) => `orecv${i}`);
  const names = [...senders, ...recipients, "ohoard", "ofriend"];
  await sql`INSERT INTO accounts (name, password_hash) SELECT unnest(${names}::text[]), ${hash}`.execute(db);
  const owners = [...senders, ...recipients];
  const others = [...recipients, ...senders];
  for (const table of ["roster_contacts", "roster_approvals"] as const) {
    const other = table === "roster_contacts" ? "contact" : "watcher";
    await sql`INSERT INTO ${sql.table(table)} (owner, ${sql.ref(other)}) SELECT unnest(${owners}::text[]), unnest(${others}::text[]) ON CONFLICT DO NOTHING`.execute(
      db,
    );
  }
  // HOARD messages of 64 bytes for ohoard (from ofriend), with the ledger row that goes with them.
  const t0 = Date.now() - HOARD;
  await sql`
    INSERT INTO offline_messages (recipient, ts, sender, capability, message_id, message_size, chunk)
    SELECT 'ohoard', ${t0}::bigint + g, 'ofriend', 1, int4send(g), 64, convert_to(repeat('a', 64), 'UTF8')
    FROM generate_series(1, ${HOARD}::int) AS g`.execute(db);
  await sql`
    INSERT INTO offline_quota (recipient, last_ts, messages, bytes)
    VALUES ('ohoard', ${t0 + HOARD}::bigint, ${HOARD}, ${HOARD * 64}::bigint)`.execute(db);
}

/**
 * Offline messages on a fresh server with IMPP_OFFLINE_MAX_BATCH = batch: PAIRS senders each write
 * to their own recipient, who never connects (every message is stored before its ok), WINDOW in
 * flight per sender for SECONDS; then GET + DELETE of HOARD stored messages, paged by the block limit.
 */
async function offlineBench(mode: ClusterMode, batch: string): Promise<void> {
  const where = mode === "distributed" ? "distributed" : "embedded";
  line(`\n== offline messages, ${where}, IMPP_OFFLINE_MAX_BATCH=${batch} ==`);
  progress("starting the server…");
  const hash = await hashPassword(PASSWORD);
  const cluster = await startCluster({
    mode,
    env: { ...SERVER_ENV, IMPP_OFFLINE_MAX_BATCH: batch },
    ...(mode === "distributed" ? { edges: 2 } : {}),
    seed: (store: Store) => seedOffline(store, hash),
  });
  const clients: ImppClient[] = [];
  try {
    const connect = (i: number, name: string) => {
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
    const senders = await pool(PAIRS, CONCURRENCY, (i) => connect(i, `osend${i}`), "connecting senders");
    clients.push(...senders);
    for (const c of senders) c.drainIndications();
    // Warm up (JIT, the pools' connections), then measure.
    await Promise.all(senders.slice(0, 50).map((c, i) => c.sendIm(`orecv${i}`, "warm")));
    await sleep(1000);

    let stored = 0;
    let refused = 0;
    const before = sumStat(cluster.pids());
    const pg0 = postgresCpu(cluster.databaseName);
    const t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    const ticker = setInterval(() => progress(`offline: ${stored} stored`), 500);
    const payload = Buffer.alloc(64, 0x61);
    await Promise.all(
      senders.map(async (s, i) => {
        const lane = async () => {
          while (performance.now() < deadline) {
            const r = await s.sendIm(`orecv${i}`, "", { chunk: payload });
            if (r.isError) refused++;
            else stored++;
          }
        };
        await Promise.all(Array.from({ length: WINDOW }, lane));
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    clearInterval(ticker);
    const cpu = sumStat(cluster.pids()).cpu - before.cpu;
    const pg1 = postgresCpu(cluster.databaseName);
    progress("");
    line(
      `stored: ${PAIRS} senders × ${WINDOW} in flight to ${PAIRS} offline recipients for ${elapsed.toFixed(1)} s: ` +
        `${(stored / elapsed).toFixed(0)} messages/s stored (ok after commit)` +
        (refused > 0 ? `, ${refused} refused` : "") +
        `; server CPU ${cpu.toFixed(2)} s, ${((cpu / stored) * 1e6).toFixed(0)} µs per stored message`,
    );
    if (mode === "distributed") {
      const ours = pg1.ours - pg0.ours;
      const all = pg1.all - pg0.all;
      line(
        `  Postgres CPU: ${ours.toFixed(2)} s in this database's backends = ${((ours / stored) * 1e6).toFixed(0)} µs per stored message; ` +
          `all postgres processes on the machine ${all.toFixed(2)} s = ${((all / stored) * 1e6).toFixed(0)} µs per message ` +
          `(WAL writer, checkpointer, and other users of the shared server included)`,
      );
    } else {
      line("  (embedded: PGlite runs inside the server process, its CPU is in the server figure)");
    }
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));

    // GET + DELETE of HOARD stored messages, page by page (each page as big as the block limit allows).
    const hoard = await connect(0, "ohoard");
    clients.push(hoard);
    let taken = 0;
    let pages = 0;
    const rounds: number[] = [];
    const g0 = performance.now();
    for (;;) {
      const r0 = performance.now();
      const res = await hoard.request(Family.IM, ImType.OFFLINE_MESSAGES_GET);
      if (res.isError) throw new Error(`OFFLINE_MESSAGES_GET: ${res.errorCode}`);
      const n = res.tlvs.all(ImTlv.OFFLINE_MESSAGE).length;
      if (n === 0) break;
      const newest = res.tlvs.first(ImTlv.TIMESTAMP)!;
      const del = await hoard.request(
        Family.IM,
        ImType.OFFLINE_MESSAGES_DELETE,
        new TlvWriter().bytes(ImTlv.TIMESTAMP, newest),
      );
      if (del.isError) throw new Error(`OFFLINE_MESSAGES_DELETE: ${del.errorCode}`);
      rounds.push(performance.now() - r0);
      taken += n;
      pages++;
      progress(`GET + DELETE: ${taken}/${HOARD}`);
    }
    const gsecs = (performance.now() - g0) / 1000;
    progress("");
    rounds.sort((a, b) => a - b);
    line(
      `GET + DELETE of ${taken} stored messages (${pages} pages of ≈ ${Math.round(taken / Math.max(1, pages))}): ` +
        `${gsecs.toFixed(2)} s, ${(taken / gsecs).toFixed(0)} messages/s; per page (GET + DELETE) ` +
        `p50 ${rounds[Math.floor(rounds.length / 2)]?.toFixed(1)} ms, max ${rounds.at(-1)?.toFixed(1)} ms`,
    );
  } finally {
    progress("stopping…");
    for (const c of clients) c.destroy();
    await cluster.stop();
    progress("");
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function groupsMode(mode: ClusterMode): Promise<void> {
  line(
    `\n== groups and avatars: ${mode === "distributed" ? "distributed (services + 2 edges)" : "embedded (one process)"} ==`,
  );
  progress("starting the server…");
  const cluster = await startCluster({
    mode,
    env: { ...SERVER_ENV, IMPP_MAX_DEVICES: "20", IMPP_GROUP_MAX_MEMBERS: String(GROUP_SIZE + 10) },
    ...(mode === "distributed" ? { edges: 2 } : {}),
  });
  const clients: ImppClient[] = [];
  const connect = (i: number, name: string) => {
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
  try {
    const names = await pool(
      GROUP_SIZE,
      8,
      async (i) => {
        const n = `member${i}`;
        await cluster.addUser(n, PASSWORD);
        return n;
      },
      "creating accounts",
    );
    const members = await pool(GROUP_SIZE, CONCURRENCY, (i) => connect(i, names[i]!), "connecting members");
    clients.push(...members);
    await pool(
      GROUP_SIZE - 1,
      16,
      (i) =>
        befriend({ client: members[0]!, name: names[0]! }, { client: members[i + 1]!, name: names[i + 1]! }),
      "befriending",
    );
    const created = await members[0]!.groupRequest(GroupChatsType.SET, {
      name: "bench",
      members: names.slice(1),
    });
    if (created.isError) throw new Error(`group SET failed: ${created.errorCode}`);
    await sleep(1000);
    for (const m of members) m.drainIndications();

    // Group messages: 4 members send, 4 in flight each; a message is "there" when every other member has it.
    for (const [senders, window] of [
      [1, 1],
      [4, 4],
    ] as const) {
      const waiting = new Map<string, { t0: number; left: number }>();
      const latencies: number[] = [];
      const onFrame = (f: ResponseFrame) => {
        if (f.family !== Family.GROUP_CHATS || f.type !== GroupChatsType.MESSAGE_SEND || !f.isIndication)
          return;
        const id = f.tlvs.first(GroupChatsTlv.MESSAGE)?.toString("latin1") ?? "";
        const w = waiting.get(id);
        if (w === undefined) return;
        if (--w.left === 0) {
          latencies.push(performance.now() - w.t0);
          waiting.delete(id);
        }
      };
      for (const m of members) m.on("frame", onFrame);
      const seconds = senders === 1 ? Math.min(3, SECONDS) : SECONDS;
      const deadline = performance.now() + seconds * 1000;
      const t0 = performance.now();
      let sent = 0;
      const before = sumStat(cluster.pids());
      await Promise.all(
        members.slice(0, senders).map(async (s) => {
          const lane = async () => {
            while (performance.now() < deadline) {
              const id = randomBytes(8).toString("hex");
              waiting.set(id, { t0: performance.now(), left: GROUP_SIZE - 1 });
              const r = await s.sendGroupMessage("bench", Buffer.from(id, "latin1"));
              if (!r.isError) sent++;
            }
          };
          await Promise.all(Array.from({ length: window }, lane));
        }),
      );
      const elapsed = (performance.now() - t0) / 1000;
      await sleep(1000);
      const cpu = sumStat(cluster.pids()).cpu - before.cpu;
      for (const m of members) m.off("frame", onFrame);
      latencies.sort((a, b) => a - b);
      const pct = (p: number) =>
        latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
      line(
        `group of ${GROUP_SIZE}, ${senders} sender(s) × ${window} in flight for ${elapsed.toFixed(1)} s: ${(sent / elapsed).toFixed(0)} group messages/s ` +
          `(${((sent * (GROUP_SIZE - 1)) / elapsed).toFixed(0)} deliveries/s), time to the last member p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms; ` +
          `${waiting.size} not complete; server CPU ${(cpu / elapsed).toFixed(2)} cores`,
      );
    }
    progress("closing…");
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));

    // Avatar GETs: 50 distinct images, 500 clients (of 100 accounts) each GETting one at a time.
    const avatarUsers = await pool(
      100,
      8,
      async (i) => {
        const n = `viewer${i}`;
        await cluster.addUser(n, PASSWORD);
        return n;
      },
      "creating viewers",
    );
    const viewers = await pool(
      500,
      CONCURRENCY,
      (i) => connect(i, avatarUsers[i % 100]!),
      "connecting viewers",
    );
    clients.push(...viewers);
    const hashes: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const img = Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        randomBytes(8000),
      ]);
      const r = await viewers[i]!.uploadAvatar(img);
      hashes.push(r.tlvs.first(AvatarTlv.AVATAR_SHA1)!);
    }
    let gets = 0;
    let failed = 0;
    const before = sumStat(cluster.pids());
    const t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    await Promise.all(
      viewers.map(async (v, i) => {
        let k = i;
        while (performance.now() < deadline) {
          const r = await v.avatar(AvatarType.GET, hashes[k++ % 50]!);
          if (r.isError) failed++;
          else gets++;
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = sumStat(cluster.pids()).cpu - before.cpu;
    line(
      `avatar GET, 500 clients, 50 distinct 8 KB avatars, ${elapsed.toFixed(1)} s: ${(gets / elapsed).toFixed(0)} GETs/s ` +
        `(${((gets * 8 * 1024) / elapsed / 1024 / 1024).toFixed(0)} MiB/s of images)${failed > 0 ? `, ${failed} failed` : ""}; server CPU ${(cpu / elapsed).toFixed(2)} cores`,
    );
  } finally {
    progress("stopping…");
    for (const c of clients) c.destroy();
    await cluster.stop();
    progress("");
  }
}

for (const m of MODES) {
  const mode: ClusterMode = m === "embedded" ? "embedded-process" : (m as ClusterMode);
  if (GROUPS) {
    await groupsMode(mode);
    continue;
  }
  if (["connections", "im", "presence", "storm"].some((p) => PARTS.has(p))) await benchMode(mode);
  if (PARTS.has("offline")) for (const batch of OFFLINE_BATCHES) await offlineBench(mode, batch);
}
process.exit(0);
