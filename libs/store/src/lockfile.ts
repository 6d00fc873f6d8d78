import { randomBytes } from "node:crypto";
import { promises as fs, readFileSync, unlinkSync } from "node:fs";
import path from "node:path";
import { StoreError } from "./errors.js";

/**
 * An exclusive claim on a folder by this process, as a file holding
 * "<pid> <token> <start time>". PGlite does not lock its data folder, and two
 * processes writing one folder corrupt it, so every opener takes this first.
 *
 * A lock whose pid is dead is stale (the holder crashed) and is taken over.
 * So is one whose pid is alive but started at another time than the holder
 * did (Linux: field 22 of /proc/<pid>/stat): the pid was reused by an
 * unrelated process. A lock naming our own pid that this process does not
 * hold is stale too: in a container the server is pid 1 on every restart.
 */
export interface FolderLock {
  readonly file: string;
  release(): Promise<void>;
}

// Locks this process holds: file → token. Also consulted for "our own pid".
const held = new Map<string, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A process that exits without close() should not leave a lock that the
  // next start must judge stale (pid reuse could make it look alive).
  process.once("exit", () => {
    for (const [file, token] of held) {
      try {
        if (readFileSync(file, "utf8") === content(token)) unlinkSync(file);
      } catch {
        // Nothing to do at exit; a leftover lock is taken over as stale later.
      }
    }
  });
}

/**
 * When the process started, in clock ticks since boot (field 22 of /proc/<pid>/stat); undefined
 * where there is no /proc or the process is gone. With the pid it names one process for good.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const start = fields[19];
    return start !== undefined && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

const ownStart = processStartTime(process.pid);

function content(token: string): string {
  return ownStart === undefined ? `${process.pid} ${token}\n` : `${process.pid} ${token} ${ownStart}\n`;
}

function parsePid(text: string): number | undefined {
  const m = /^(\d{1,10}) /.exec(text);
  if (!m) return undefined;
  const pid = Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function parseStart(text: string): string | undefined {
  return /^\d{1,10} \S+ (\d+)\s*$/.exec(text)?.[1];
}

function isAlive(pid: number, file: string, recordedStart: string | undefined): boolean {
  if (pid === process.pid) return held.has(file);
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else — still alive.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // Alive — but is it the holder, or a new process that got its pid?
  if (recordedStart === undefined) return true;
  const start = processStartTime(pid);
  return start === undefined || start === recordedStart;
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (err) {
    if (code(err) === "ENOENT") return undefined;
    throw err;
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface LockOptions {
  /**
   * How long to keep trying while another live process holds the lock (e.g. `impp user` for a
   * moment) before giving up with DATA_DIR_LOCKED. Default 0: answer at once.
   */
  waitMs?: number;
  /** Told once when the lock is held by someone else and we start waiting. */
  onWait?: (holderPid: number | undefined) => void;
}

/**
 * Takes `file` for this process, or says who has it — after waiting up to `opts.waitMs` for a
 * live holder to let go.
 */
export async function lockFile(
  file: string,
  what: string,
  opts: LockOptions = {},
): Promise<FolderLock | StoreError> {
  const deadline = Date.now() + (opts.waitMs ?? 0);
  let told = false;
  for (;;) {
    const r = await tryLock(file, what);
    if (!(r instanceof StoreError) || r.kind !== "DATA_DIR_LOCKED" || Date.now() >= deadline) return r;
    if (!told) {
      told = true;
      opts.onWait?.(
        /process (\d+)/.exec(r.message) ? Number(/process (\d+)/.exec(r.message)![1]) : undefined,
      );
    }
    await delay(Math.min(200, Math.max(1, deadline - Date.now())));
  }
}

async function tryLock(file: string, what: string): Promise<FolderLock | StoreError> {
  file = path.resolve(file);
  const token = randomBytes(12).toString("hex");
  const mine = content(token);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await fs.writeFile(file, mine, { flag: "wx", mode: 0o644 });
        held.set(file, token);
        installExitHook();
        return { file, release: () => release(file, token) };
      } catch (err) {
        if (code(err) !== "EEXIST") throw err;
      }
      let text = await readOrUndefined(file);
      if (text === undefined) continue; // released meanwhile: try again
      if (text === "") {
        // Created with wx but not yet written by its owner: give it a moment.
        await delay(100);
        text = await readOrUndefined(file);
        if (text === undefined) continue;
      }
      const pid = parsePid(text);
      if (pid !== undefined && isAlive(pid, file, parseStart(text))) {
        return new StoreError(
          "DATA_DIR_LOCKED",
          `${what} is in use by process ${pid} (lock file ${file}): the server is running — go through it, or stop it first`,
        );
      }
      // Stale. Move it aside atomically: of several processes doing this at
      // once, only one rename succeeds; a loser gets ENOENT and retries.
      const aside = `${file}.stale-${process.pid}-${token}`;
      try {
        await fs.rename(file, aside);
      } catch (err) {
        if (code(err) === "ENOENT") continue;
        throw err;
      }
      const moved = await readOrUndefined(aside);
      if (moved !== text) {
        // Between our read and our rename a live process replaced the stale
        // lock with its own, and we just moved that. Put it back.
        await fs.link(aside, file).catch(() => {});
        await fs.unlink(aside).catch(() => {});
        const livePid = moved === undefined ? undefined : parsePid(moved);
        return new StoreError(
          "DATA_DIR_LOCKED",
          `${what} is in use by process ${livePid ?? "?"} (lock file ${file}): the server is running — go through it, or stop it first`,
        );
      }
      await fs.unlink(aside).catch(() => {});
    }
    return new StoreError("DATA_DIR_LOCKED", `${what}: could not take the lock file ${file} (contended)`);
  } catch (err) {
    return new StoreError(
      "DATA_DIR_UNUSABLE",
      `${what}: cannot create lock file ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

async function release(file: string, token: string): Promise<void> {
  if (held.get(file) !== token) return;
  held.delete(file);
  // Only remove the file if it is still ours.
  const text = await readOrUndefined(file).catch(() => undefined);
  if (text === content(token)) await fs.unlink(file).catch(() => {});
}
