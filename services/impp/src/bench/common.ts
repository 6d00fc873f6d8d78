// What both benchmark scripts (server.bench.ts, compare.ts) need: progress and result lines,
// /proc readings of the server processes, and a bounded pool of concurrent steps.
import { readFileSync } from "node:fs";

/** A progress line on stderr, overwritten by the next. */
export const progress = (s: string) => process.stderr.write(`\r\x1b[K${s}`);
/** A result line on stdout. */
export const line = (s: string) => process.stdout.write(`${s}\n`);

/** USER_HZ on Linux: /proc/PID/stat counts CPU time in these ticks. */
export const TICK = 100;

export interface ProcStat {
  /** Resident set, bytes. */
  rss: number;
  /** User + system CPU, seconds. */
  cpu: number;
}

/** RSS and CPU of one process; throws when it is gone. */
export function procStat(pid: number): ProcStat {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { rss: rssKb * 1024, cpu: (Number(f[11]) + Number(f[12])) / TICK };
}

/** The sum over processes, read with `read` (procStat, or one that tolerates gone processes). */
export function sumStat(pids: number[], read: (pid: number) => ProcStat = procStat): ProcStat {
  return pids.map(read).reduce((a, b) => ({ rss: a.rss + b.rss, cpu: a.cpu + b.cpu }), { rss: 0, cpu: 0 });
}

/** Runs fn(0..count-1), at most `concurrency` at once, reporting progress under `label`. */
export async function pool<T>(
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
