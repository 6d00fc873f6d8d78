// What the logs say about a real login and message (one in-process server, its log captured):
// per-frame trace lines in the `impp decode` form with passwords and bodies redacted, failed logins
// and service errors at info, capped per kind.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createAccountsAdmin } from "@impp/auth";
import { befriend, connectAndLogin, ImppClient } from "@impp/client";
import { ConfigError, loadConfig } from "@impp/config";
import { ImTlv } from "@impp/protocol";
import { type ServerHandle, startServer } from "./runtime.js";
import { freePort } from "./testing/cluster.js";

const PASSWORD = "Hunter2-correct-horse";
const WRONG = "wrong-Pa55word-xyz";
const BODY = "the launch code is 0000";

type Line = Record<string, unknown>;

async function withServer(
  env: Record<string, string>,
  fn: (server: ServerHandle, lines: Line[], text: () => string) => Promise<void>,
): Promise<Line[]> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "impp-log-"));
  const raw: string[] = [];
  const lines: Line[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      raw.push(chunk.toString());
      for (const l of chunk.toString().split("\n")) if (l.trim() !== "") lines.push(JSON.parse(l));
      cb();
    },
  });
  const config = loadConfig({
    IMPP_HOST: "127.0.0.1",
    IMPP_PORT: String(await freePort()),
    IMPP_HTTP_PORT: "0",
    IMPP_DATA_DIR: dataDir,
    IMPP_LOG_LEVEL: "trace",
    IMPP_LOGIN_ATTEMPTS_PER_ADDRESS: "1000",
    ...env,
  });
  if (config instanceof ConfigError) throw config;
  const server = await startServer(config, { logDestination: dest });
  try {
    await fn(server, lines, () => raw.join(""));
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  return lines;
}

const connect = (server: ServerHandle) => ({
  host: "127.0.0.1",
  port: server.edge!.ports.plain,
  rejectUnauthorized: false,
  timeoutMs: 8000,
});

test("trace: one line per frame with its TLVs; passwords and bodies never, failed logins at info, capped", async () => {
  let text = "";
  const lines = await withServer({ IMPP_LOG_REPEATS_PER_MINUTE: "2" }, async (server, _lines, all) => {
    const admin = createAccountsAdmin(server.store!, { domain: "localhost" });
    await admin.add("alice", PASSWORD);
    await admin.add("bob", PASSWORD);
    const opts = connect(server);
    const a = await connectAndLogin({ ...opts, name: "alice", password: PASSWORD, deviceName: "desk" });
    const b = await connectAndLogin({ ...opts, name: "bob", password: PASSWORD, deviceName: "desk" });
    await befriend({ client: a, name: "alice" }, { client: b, name: "bob" });
    assert.equal((await a.sendIm("bob", BODY)).isError, false);
    const got = await b.nextIndication((f) => f.tlvs.has(ImTlv.MESSAGE_CHUNK));
    assert.equal(got.tlvs.first(ImTlv.MESSAGE_CHUNK)?.toString(), BODY);
    // Four failed logins, under different names (a per-account limit is not what this is about).
    for (const name of ["nobody1", "nobody2", "alice", "nobody3"]) {
      const c = await ImppClient.connect(opts);
      assert.equal((await c.authenticate(name, WRONG)).isError, true);
      c.destroy();
    }
    a.destroy();
    b.destroy();
    text = all();
  });
  text = lines.map((l) => JSON.stringify(l)).join("\n");

  assert.ok(!text.includes(PASSWORD), "the password is in no log line");
  assert.ok(!text.includes(WRONG), "nor a wrong one");
  assert.ok(!text.includes(BODY), "nor a message body without IMPP_LOG_BODIES");

  const frames = lines.filter((l) => l.msg === "frame");
  const auth = frames.find(
    (l) => l.dir === "in" && l.type === "AUTHENTICATE" && String(l.tlvs).includes("alice"),
  );
  assert.ok(auth, "AUTHENTICATE in is logged");
  assert.equal(auth.family, "STREAM");
  assert.equal(typeof auth.conn, "string");
  assert.equal(typeof auth.seq, "number");
  assert.equal(typeof auth.block, "number");
  assert.match(String(auth.tlvs), /NAME \(3\)\s+"alice"/);
  assert.match(String(auth.tlvs), /PASSWORD \(5\)\s+<password> \(21 bytes\)/);

  const sent = frames.find((l) => l.dir === "in" && l.family === "IM" && l.type === "MESSAGE_SEND");
  assert.ok(sent);
  assert.equal(sent.account, "alice");
  assert.equal(sent.device, "desk");
  assert.match(String(sent.tlvs), /MESSAGE_CHUNK \(6\)\s+<body: IMPP_LOG_BODIES=true shows it> \(23 bytes\)/);
  const delivered = frames.find((l) => l.dir === "out" && l.account === "bob" && l.type === "MESSAGE_SEND");
  assert.ok(delivered, "the indication to bob is logged going out");
  assert.match(String(delivered.flags), /INDICATION/);
  assert.ok(
    frames.some((l) => l.dir === "out" && l.type === "AUTHENTICATE" && /ERROR/.test(String(l.flags))),
  );

  // Failed logins at info: account, address, reason — two written, the other two counted.
  const failed = lines.filter((l) => l.msg === "login failed");
  assert.equal(failed.length, 2);
  assert.deepEqual(
    failed.map((l) => [l.account, l.remoteAddress, l.reason, l.level]),
    [
      ["nobody1", "127.0.0.1", "bad_credentials", 30],
      ["nobody2", "127.0.0.1", "bad_credentials", 30],
    ],
  );
  const summary = lines.find((l) => l.kind === "login-failed" && l.suppressed !== undefined);
  assert.equal(summary?.suppressed, 2);
  // The error the service returned, at info, capped the same way.
  const errors = lines.filter((l) => l.msg === "service answered an error");
  assert.equal(errors.length, 2);
  assert.equal(errors[0]!.error, "AUTHENTICATION_INVALID");
  assert.equal(
    lines.find((l) => l.kind === "service-error:STREAM:AUTHENTICATION_INVALID" && l.suppressed)?.suppressed,
    2,
  );
});

test("IMPP_LOG_BODIES=true shows bodies in the frame log; passwords stay hidden", async () => {
  const lines = await withServer({ IMPP_LOG_BODIES: "true" }, async (server) => {
    const admin = createAccountsAdmin(server.store!, { domain: "localhost" });
    await admin.add("carol", PASSWORD);
    await admin.add("dave", PASSWORD);
    const c = await connectAndLogin({ ...connect(server), name: "carol", password: PASSWORD });
    const d = await connectAndLogin({ ...connect(server), name: "dave", password: PASSWORD });
    await befriend({ client: c, name: "carol" }, { client: d, name: "dave" });
    assert.equal((await c.sendIm("dave", BODY)).isError, false);
    await d.nextIndication((f) => f.tlvs.has(ImTlv.MESSAGE_CHUNK));
    c.destroy();
    d.destroy();
  });
  const text = lines.map((l) => JSON.stringify(l)).join("\n");
  assert.ok(text.includes(BODY));
  assert.ok(!text.includes(PASSWORD));
});

test("above trace, no frame lines at all", async () => {
  const lines = await withServer({ IMPP_LOG_LEVEL: "debug" }, async (server) => {
    const admin = createAccountsAdmin(server.store!, { domain: "localhost" });
    await admin.add("erin", PASSWORD);
    const c = await connectAndLogin({ ...connect(server), name: "erin", password: PASSWORD });
    c.destroy();
  });
  assert.equal(lines.filter((l) => l.msg === "frame").length, 0);
});
