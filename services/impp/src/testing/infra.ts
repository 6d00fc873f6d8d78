// The harness's own NATS, Redis and PostgreSQL: separate processes on free ports, in temp folders,
// that a fault-injection test may SIGKILL and start again (the machine's shared services on
// 4222/6379/5432 are never touched). A kill takes the server and every process it forked at
// once — as a crashed host or container would. Postgres's children each call setsid(), so a
// process-group signal would only reach the postmaster and leave its backends to notice and
// report "unexpected postmaster exit" on their connections: the tree is collected from /proc
// and signalled as a whole.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/** A free TCP port on 127.0.0.1 (closed again, so a child can bind it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export type InfraKind = "nats" | "redis" | "postgres";

export interface InfraProcess {
  readonly kind: InfraKind;
  /** What the cluster connects to (for postgres: the admin database). */
  readonly url: string;
  /** The current process (group leader). */
  pid(): number;
  /** SIGKILL (or another signal) the whole process group and wait until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and folder; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

export const NATS_SERVER = process.env.IMPP_TEST_NATS_SERVER ?? "/usr/sbin/nats-server";
export const REDIS_SERVER = process.env.IMPP_TEST_REDIS_SERVER ?? "redis-server";

/** The newest /usr/lib/postgresql/<version>/bin, or IMPP_TEST_PG_BIN. */
export function postgresBin(): string | undefined {
  if (process.env.IMPP_TEST_PG_BIN) return process.env.IMPP_TEST_PG_BIN;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(root, versions[0], "bin");
}

/** Why own infrastructure cannot run here (a missing binary, not root for Postgres), or undefined. */
export function infraUnavailable(kinds: readonly InfraKind[]): string | undefined {
  const which = (cmd: string) => {
    try {
      execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (kinds.includes("nats") && !which(NATS_SERVER)) return `no ${NATS_SERVER}`;
  if (kinds.includes("redis") && !which(REDIS_SERVER)) return `no ${REDIS_SERVER}`;
  if (kinds.includes("postgres")) {
    if (postgresBin() === undefined) return "no PostgreSQL binaries in /usr/lib/postgresql";
    if (process.getuid?.() !== 0) return "running Postgres as the postgres user needs root";
  }
  return undefined;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
async function waitForPort(port: number, child: ChildProcess, what: string, output: () => string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} in 30 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Spec {
  kind: InfraKind;
  url: string;
  port: number;
  dir: string;
  cmd: string;
  args: string[];
  uid?: number;
  gid?: number;
  /** Postgres accepts TCP a moment before it accepts logins: wait for that too. */
  ready?: () => Promise<void>;
}

type Supervised = InfraProcess & { start(): Promise<void> };

function supervise(spec: Spec): Supervised {
  let child: ChildProcess | undefined;
  let output = "";
  const start = async () => {
    output = "";
    const c = spawn(spec.cmd, spec.args, {
      cwd: spec.dir,
      detached: true, // its own process group: kill() takes every process of it
      stdio: ["ignore", "pipe", "pipe"],
      ...(spec.uid === undefined ? {} : { uid: spec.uid, gid: spec.gid }),
    });
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
    };
    c.stdout!.on("data", keep);
    c.stderr!.on("data", keep);
    child = c;
    await waitForPort(spec.port, c, spec.kind, () => output);
    await spec.ready?.();
  };
  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    const c = child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    const tree = processTree(c.pid!);
    for (const pid of tree) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    await exited;
    const gone = Date.now() + 10_000;
    while (Date.now() < gone && tree.some(alive)) await new Promise((r) => setTimeout(r, 20));
    // The group's other members (Postgres backends) die with the same signal; wait for the port
    // to be free so a restart can bind it.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await listening(spec.port))) await new Promise((r) => setTimeout(r, 50));
  };
  return {
    kind: spec.kind,
    url: spec.url,
    pid: () => child?.pid ?? 0,
    kill,
    start,
    restart: start,
    async stop() {
      const c = child;
      if (c !== undefined && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once("exit", r));
        try {
          // SIGINT: Postgres's fast shutdown (SIGTERM would wait for every client to leave).
          process.kill(c.pid!, "SIGINT");
        } catch {
          // gone
        }
        const timer = setTimeout(() => kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(spec.dir, { recursive: true, force: true });
    },
  };
}

/** pid and all its descendants (children first found through /proc/<pid>/stat's ppid). */
export function processTree(root: number): number[] {
  const parent = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = parent.get(ppid) ?? [];
      list.push(Number(d));
      parent.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(parent.get(out[i]!) ?? []));
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function listening(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function launch(spec: Spec): Promise<InfraProcess> {
  const p = supervise(spec);
  try {
    await p.start();
  } catch (e) {
    await p.stop().catch(() => {});
    throw e;
  }
  return p;
}

/** nats-server with JetStream, its store in a temp folder (kept across restarts). */
export async function startNats(): Promise<InfraProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), "impp-nats-"));
  const port = await freePort();
  return await launch({
    kind: "nats",
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    cmd: NATS_SERVER,
    args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir],
  });
}

/** redis-server with no persistence: a restart comes back empty (every live registration gone). */
export async function startRedis(): Promise<InfraProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), "impp-redis-"));
  const port = await freePort();
  return await launch({
    kind: "redis",
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    cmd: REDIS_SERVER,
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
  });
}

/**
 * A PostgreSQL cluster of its own (initdb in a temp folder, trust auth, run as the postgres OS
 * user, sockets in the folder). fsync stays on: a kill -9 must lose nothing that was committed.
 */
export async function startPostgres(): Promise<InfraProcess> {
  const bin = postgresBin();
  if (bin === undefined) throw new Error("no PostgreSQL binaries");
  const dir = await mkdtemp(path.join(tmpdir(), "impp-pg-"));
  const data = path.join(dir, "data");
  const sock = path.join(dir, "sock");
  mkdirSync(sock);
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  for (const d of [dir, sock]) chownSync(d, uid, gid);
  execFileSync(
    "runuser",
    [
      "-u",
      "postgres",
      "--",
      path.join(bin, "initdb"),
      "-D",
      data,
      "-A",
      "trust",
      "-U",
      "postgres",
      "--no-sync",
    ],
    { stdio: "ignore" },
  );
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return await launch({
    kind: "postgres",
    url,
    port,
    dir,
    cmd: path.join(bin, "postgres"),
    args: [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      sock,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=100",
      "-c",
      "shared_buffers=32MB",
    ],
    uid,
    gid,
    ready: async () => {
      const pg = (await import("pg")).default;
      const deadline = Date.now() + 30_000;
      for (;;) {
        const c = new pg.Client({ connectionString: url });
        try {
          await c.connect();
          await c.query("SELECT 1");
          await c.end();
          return;
        } catch (e) {
          await c.end().catch(() => {});
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  });
}
