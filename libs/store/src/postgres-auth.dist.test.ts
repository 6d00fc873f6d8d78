// Postgres with password (SCRAM) authentication and TLS: the test runs its own cluster (initdb,
// as the postgres user when the tests run as root) on a free port, because the shared test
// server trusts local connections and would accept any password.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmod, chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { sql } from "kysely";
import { StoreError } from "./errors.js";
import { openStore } from "./store.js";

const asRoot = process.getuid?.() === 0;
const pgUser = asRoot ? "postgres" : undefined;

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A command as the cluster's owner: postgres refuses to run as root. */
function as(cmd: string, args: string[]): [string, string[]] {
  return pgUser === undefined ? [cmd, args] : ["runuser", ["-u", pgUser, "--", cmd, ...args]];
}

describe("Postgres with SCRAM passwords and TLS", () => {
  let dir: string;
  let port: number;
  let server: ChildProcess;
  let caFile: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "impp-pg-auth-"));
    const data = path.join(dir, "data");
    caFile = path.join(dir, "server.crt");
    const keyFile = path.join(dir, "server.key");
    execFileSync("openssl", [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", keyFile, "-out", caFile, "-days", "1", "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    ]);
    await writeFile(path.join(dir, "pw"), "pg-s3cret\n");
    await chmod(keyFile, 0o600);
    if (pgUser !== undefined) {
      const uid = Number(execFileSync("id", ["-u", pgUser]).toString());
      const gid = Number(execFileSync("id", ["-g", pgUser]).toString());
      for (const f of [dir, keyFile, caFile, path.join(dir, "pw")]) await chown(f, uid, gid);
    }
    const [initdb, initArgs] = as("initdb", [
      ...["-D", data, "-U", "impp", "--auth=scram-sha-256", "--pwfile", path.join(dir, "pw")],
      ...["--no-sync", "--no-instructions"],
    ]);
    execFileSync(initdb, initArgs, { stdio: "ignore" });
    port = await freePort();
    const [postgres, pgArgs] = as("postgres", [
      ...["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1"],
      ...[
        "-c",
        "ssl=on",
        "-c",
        `ssl_cert_file=${caFile}`,
        "-c",
        `ssl_key_file=${keyFile}`,
        "-c",
        "fsync=off",
      ],
    ]);
    server = spawn(postgres, pgArgs, { stdio: ["ignore", "ignore", "pipe"] });
    await new Promise<void>((resolve, reject) => {
      let log = "";
      server.stderr!.on("data", (c: Buffer) => {
        log += c.toString();
        if (log.includes("ready to accept connections")) resolve();
      });
      server.once("exit", (code) => reject(new Error(`postgres exited (${code}): ${log}`)));
    });
  });

  after(async () => {
    if (server !== undefined && server.exitCode === null) {
      const exited = new Promise((r) => server.once("exit", r));
      // Through pg_ctl: runuser does not pass SIGINT on to the postgres it started.
      const [pgCtl, args] = as("pg_ctl", ["-D", path.join(dir, "data"), "-m", "fast", "-w", "stop"]);
      execFileSync(pgCtl, args, { stdio: "ignore" });
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  const url = (password: string, query = "") =>
    `postgres://impp:${password}@127.0.0.1:${port}/postgres${query}`;

  test("the right password connects", async () => {
    const store = await openStore({ databaseUrl: url("pg-s3cret") });
    assert.equal(await store.ping(), true);
    await store.close();
  });

  test("a wrong password fails, naming host, database and user but never the password", async () => {
    await assert.rejects(openStore({ databaseUrl: url("wrong-pg-pw") }), (e: unknown) => {
      assert.ok(e instanceof StoreError);
      assert.equal(e.kind, "CONNECT_FAILED");
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}/postgres as impp`));
      assert.match(e.message, /password authentication failed/);
      assert.ok(!e.message.includes("wrong-pg-pw"), e.message);
      return true;
    });
  });

  test("sslmode=verify-full with sslrootcert verifies the server; without the CA it is refused", async () => {
    const store = await openStore({
      databaseUrl: url("pg-s3cret", `?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`),
    });
    const r = await sql<{ ssl: boolean }>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`.execute(
      store.db,
    );
    assert.equal(r.rows[0]?.ssl, true);
    await store.close();
    await assert.rejects(
      openStore({ databaseUrl: url("pg-s3cret", "?sslmode=verify-full") }),
      (e: unknown) => {
        assert.ok(e instanceof StoreError);
        assert.match(e.message, /certificate/i);
        assert.ok(!e.message.includes("pg-s3cret"));
        return true;
      },
    );
  });
});
