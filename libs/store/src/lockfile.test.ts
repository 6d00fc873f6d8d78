import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { StoreError } from "./errors.js";
import { lockFile, processStartTime } from "./lockfile.js";

const dir = mkdtempSync(path.join(tmpdir(), "impp-lock-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function deadPid(): number {
  // A process that has exited: its pid is free (reuse within this test is vanishingly unlikely).
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  return Number(r.stdout);
}

describe("lockFile", () => {
  test("one holder at a time in a process; released lock can be retaken", async () => {
    const file = path.join(dir, "a.lock");
    const first = await lockFile(file, "thing");
    assert.ok(!(first instanceof StoreError));
    assert.match(
      readFileSync(file, "utf8"),
      new RegExp(`^${process.pid} [0-9a-f]+ \\d+\\n$`),
      "pid, token, start time",
    );
    const second = await lockFile(file, "thing");
    assert.ok(second instanceof StoreError);
    assert.equal(second.kind, "DATA_DIR_LOCKED");
    assert.match(second.message, new RegExp(`process ${process.pid}`));
    await first.release();
    assert.equal(existsSync(file), false);
    await first.release(); // idempotent
    const third = await lockFile(file, "thing");
    assert.ok(!(third instanceof StoreError));
    await third.release();
  });

  test("a lock held by another live process is respected", async () => {
    const file = path.join(dir, "b.lock");
    writeFileSync(file, `${process.ppid} sometoken\n`);
    const r = await lockFile(file, "thing");
    assert.ok(r instanceof StoreError);
    assert.equal(r.kind, "DATA_DIR_LOCKED");
    assert.equal(readFileSync(file, "utf8"), `${process.ppid} sometoken\n`, "left as it was");
  });

  test("a lock whose process is dead is taken over", async () => {
    const file = path.join(dir, "c.lock");
    writeFileSync(file, `${deadPid()} oldtoken\n`);
    const r = await lockFile(file, "thing");
    assert.ok(!(r instanceof StoreError), String(r));
    assert.match(readFileSync(file, "utf8"), new RegExp(`^${process.pid} `));
    await r.release();
  });

  test("a lock naming our own pid that we do not hold is stale (pid 1 after a container restart)", async () => {
    const file = path.join(dir, "d.lock");
    writeFileSync(file, `${process.pid} leftover\n`);
    const r = await lockFile(file, "thing");
    assert.ok(!(r instanceof StoreError), String(r));
    await r.release();
  });

  test("unreadable content is treated as stale", async () => {
    for (const junk of ["", "garbage", "0 x\n", "-5 y\n"]) {
      const file = path.join(dir, "e.lock");
      writeFileSync(file, junk);
      const r = await lockFile(file, "thing");
      assert.ok(!(r instanceof StoreError), `${JSON.stringify(junk)}: ${String(r)}`);
      await r.release();
    }
  });

  test("release leaves a lock that is no longer ours", async () => {
    const file = path.join(dir, "f.lock");
    const r = await lockFile(file, "thing");
    assert.ok(!(r instanceof StoreError));
    writeFileSync(file, `${process.ppid} someone-else\n`);
    await r.release();
    assert.equal(readFileSync(file, "utf8"), `${process.ppid} someone-else\n`);
  });

  test("a folder that cannot hold the file → DATA_DIR_UNUSABLE", async () => {
    const notDir = path.join(dir, "plain-file");
    writeFileSync(notDir, "x");
    const r = await lockFile(path.join(notDir, "x.lock"), "thing");
    assert.ok(r instanceof StoreError);
    assert.equal(r.kind, "DATA_DIR_UNUSABLE");
  });

  test("a live pid started at another time than the holder is a reused pid: the lock is stale", async () => {
    const ppidStart = processStartTime(process.ppid);
    assert.ok(ppidStart !== undefined, "/proc/<pid>/stat is readable on Linux");
    const file = path.join(dir, "g.lock");
    // The parent is alive, but the lock says its holder started at tick 1: someone else's pid now.
    writeFileSync(file, `${process.ppid} oldtoken 1\n`);
    const r = await lockFile(file, "thing");
    assert.ok(!(r instanceof StoreError), String(r));
    assert.match(
      readFileSync(file, "utf8"),
      new RegExp(`^${process.pid} \\S+ ${processStartTime(process.pid)}\n$`),
    );
    await r.release();
    // The same pid with the start time it really has: respected.
    writeFileSync(file, `${process.ppid} token ${ppidStart}\n`);
    const held = await lockFile(file, "thing");
    assert.ok(held instanceof StoreError);
    assert.equal(held.kind, "DATA_DIR_LOCKED");
  });

  test("with waitMs, a lock another process lets go of is taken once it is free", async () => {
    const file = path.join(dir, "h.lock");
    const lockModule = path.join(path.dirname(fileURLToPath(import.meta.url)), "lockfile.js");
    // A child takes the lock, says so, and lets go when its stdin closes.
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { lockFile } = await import(${JSON.stringify(lockModule)});
         const l = await lockFile(${JSON.stringify(file)}, "t");
         process.stdout.write("held\\n");
         process.stdin.resume();
         process.stdin.on("end", async () => { await l.release(); process.exit(0); });`,
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    await once(child.stdout!, "data");
    const quick = await lockFile(file, "thing");
    assert.ok(quick instanceof StoreError, "without waiting: refused at once");
    let waited: number | undefined;
    const waiting = lockFile(file, "thing", {
      waitMs: 60_000,
      onWait: (pid) => {
        waited = pid;
        child.stdin!.end(); // the CLI finishes
      },
    });
    const r = await waiting;
    assert.ok(!(r instanceof StoreError), String(r));
    assert.equal(waited, child.pid);
    await r.release();
  });
});
