// NATS with authentication on: each test starts its own nats-server (token, user/password, nkey,
// TLS with a private CA) on a free port, and checks that the right credentials connect, the wrong
// ones fail naming the server, and the secret is never in the error.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startNatsServer, testCert } from "@impp/test-kit";
import { createUser } from "@nats-io/nkeys";
import { BusError } from "./bus.js";
import { connectNatsBus, type NatsBusOptions, natsConnectOptions } from "./nats.js";

const startNats = startNatsServer;

const quiet = { onHandlerError: () => {}, connectTimeoutMs: 3000 } as const;

/** Connects, proves the connection carries a request, closes. */
async function roundTrip(opts: NatsBusOptions): Promise<void> {
  const bus = await connectNatsBus({ ...quiet, ...opts });
  try {
    bus.subscribe("auth.echo", (m) => {
      m.respond(m.data);
    });
    await bus.flush();
    const reply = await bus.request("auth.echo", Buffer.from("hi"), { timeoutMs: 3000 });
    assert.equal(Buffer.from(reply.data).toString(), "hi");
  } finally {
    await bus.close();
  }
}

async function refused(opts: NatsBusOptions, port: number, secret: string): Promise<void> {
  await assert.rejects(connectNatsBus({ ...quiet, ...opts }), (e: unknown) => {
    assert.ok(e instanceof BusError, String(e));
    assert.equal(e.kind, "CONNECTION");
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(e.message, /Authorization Violation|authentication|auth/i);
    assert.ok(!e.message.includes(secret), `the secret is in the error: ${e.message}`);
    return true;
  });
}

describe("NATS with a user and password", () => {
  let server: Awaited<ReturnType<typeof startNats>>;
  before(async () => {
    server = await startNats(["--user", "impp", "--pass", "s3cr3t-pw"]);
  });
  after(() => server.stop());

  test("credentials in the URL connect (they used to be ignored: Authorization Violation)", async () => {
    await roundTrip({ url: `nats://impp:s3cr3t-pw@127.0.0.1:${server.port}` });
  });
  test("credentials as settings connect", async () => {
    await roundTrip({
      url: `nats://127.0.0.1:${server.port}`,
      auth: { user: "impp", password: "s3cr3t-pw" },
    });
  });
  test("percent-encoded characters in the URL's password are decoded", async () => {
    const other = await startNats(["--user", "a@b", "--pass", "p:w/d@x"]);
    try {
      await roundTrip({ url: `nats://a%40b:p%3Aw%2Fd%40x@127.0.0.1:${other.port}` });
    } finally {
      await other.stop();
    }
  });
  test("a wrong password fails, naming the server and not the password", async () => {
    await refused({ url: `nats://impp:wrong-pw-123@127.0.0.1:${server.port}` }, server.port, "wrong-pw-123");
    await refused(
      { url: `nats://127.0.0.1:${server.port}`, auth: { user: "impp", password: "wrong-pw-456" } },
      server.port,
      "wrong-pw-456",
    );
  });
  test("no credentials fail", async () => {
    await refused({ url: `nats://127.0.0.1:${server.port}` }, server.port, "s3cr3t-pw");
  });
});

describe("NATS with a token", () => {
  let server: Awaited<ReturnType<typeof startNats>>;
  before(async () => {
    server = await startNats(["--auth", "tok-abc-123"]);
  });
  after(() => server.stop());

  test("a token in the URL (nats://token@host) or as a setting connects", async () => {
    await roundTrip({ url: `nats://tok-abc-123@127.0.0.1:${server.port}` });
    await roundTrip({ url: `nats://127.0.0.1:${server.port}`, auth: { token: "tok-abc-123" } });
  });
  test("a wrong token fails without showing it", async () => {
    await refused({ url: `nats://tok-wrong-9@127.0.0.1:${server.port}` }, server.port, "tok-wrong-9");
    await refused(
      { url: `127.0.0.1:${server.port}`, auth: { token: "tok-wrong-8" } },
      server.port,
      "tok-wrong-8",
    );
  });
});

describe("NATS with an nkey", () => {
  let server: Awaited<ReturnType<typeof startNats>>;
  let dir: string;
  let seedFile: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "impp-nats-nkey-"));
    const user = createUser();
    seedFile = path.join(dir, "user.nk");
    await writeFile(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
    const conf = path.join(dir, "nats.conf");
    await writeFile(conf, `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }\n`);
    server = await startNats(["-c", conf]);
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("the seed file signs the server's nonce", async () => {
    await roundTrip({ url: `nats://127.0.0.1:${server.port}`, auth: { nkeySeedFile: seedFile } });
  });
  test("another key is refused", async () => {
    const other = path.join(dir, "other.nk");
    const seed = new TextDecoder().decode(createUser().getSeed());
    await writeFile(other, seed);
    await refused(
      { url: `nats://127.0.0.1:${server.port}`, auth: { nkeySeedFile: other } },
      server.port,
      seed,
    );
  });
});

describe("NATS over TLS with a private CA", () => {
  let server: Awaited<ReturnType<typeof startNats>>;
  let dir: string;
  let caFile: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "impp-nats-tls-"));
    const { cert, key } = await testCert();
    caFile = path.join(dir, "ca.pem");
    await writeFile(caFile, cert);
    await writeFile(path.join(dir, "key.pem"), key, { mode: 0o600 });
    server = await startNats([
      "--tls",
      "--tlscert",
      caFile,
      "--tlskey",
      path.join(dir, "key.pem"),
      "--user",
      "u",
      "--pass",
      "tls-pw",
    ]);
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("the CA file verifies the server; credentials go inside TLS", async () => {
    await roundTrip({ url: `tls://u:tls-pw@127.0.0.1:${server.port}`, tls: { caFile } });
  });
  test("without the CA the server's certificate is not trusted", async () => {
    await assert.rejects(
      connectNatsBus({ ...quiet, url: `tls://u:tls-pw@127.0.0.1:${server.port}` }),
      (e: unknown) => {
        assert.ok(e instanceof BusError);
        assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
        assert.ok(!e.message.includes("tls-pw"));
        return true;
      },
    );
  });
});

describe("natsConnectOptions", () => {
  test("strips userinfo from every server and keeps it once", () => {
    const o = natsConnectOptions({ url: "nats://u:p@a:4222, nats://u:p@b:4222" });
    assert.deepEqual(o.servers, ["nats://a:4222", "nats://b:4222"]);
    assert.equal(o.user, "u");
    assert.equal(o.pass, "p");
  });
  test("refuses different credentials per server, and two kinds at once, without echoing them", () => {
    assert.throws(
      () => natsConnectOptions({ url: "nats://u:p1@a,nats://u:p2@b" }),
      (e: Error) => {
        assert.match(e.message, /different credentials/);
        assert.ok(!e.message.includes("p1") && !e.message.includes("p2"));
        return true;
      },
    );
    assert.throws(
      () => natsConnectOptions({ url: "nats://u:p@a", auth: { token: "t0k" } }),
      /more than one way: a token, credentials in the URL/,
    );
    assert.throws(() => natsConnectOptions({ url: "nats://a", auth: { user: "u" } }), /needs a password/);
  });
  test("a missing seed or CA file is named", () => {
    assert.throws(
      () => natsConnectOptions({ url: "nats://a", auth: { nkeySeedFile: "/nonexistent/seed.nk" } }),
      /cannot read the NATS nkey seed file \/nonexistent\/seed\.nk: ENOENT/,
    );
    assert.throws(
      () => natsConnectOptions({ url: "tls://a", tls: { caFile: "/nonexistent/ca.pem" } }),
      /NATS CA file/,
    );
  });
});
