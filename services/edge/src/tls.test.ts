// The generated certificate: what it is, that Node/OpenSSL and NSS accept it once a user trusts it,
// and that NSS's only complaint before that is the untrusted issuer (which NSS clients let a user
// override) — the older CA:FALSE certificate was refused outright and is replaced on start.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { webcrypto, X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import * as x509 from "@peculiar/x509";
import { loadOrCreateTls, outdatedReason } from "./tls.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "impp-tls-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("generated certificate", () => {
  test("is a self-signed CA for the server's host with server-auth usage, and is kept on the next start", async () => {
    const data = path.join(dir, "a");
    const first = await loadOrCreateTls({ dataDir: data, serverName: "chat.example.org:3158" });
    assert.equal(first.source, "generated");
    const x = new X509Certificate(first.cert);
    assert.equal(x.ca, true);
    assert.equal(x.checkIssued(x), true, "self-signed");
    assert.equal(x.checkHost("chat.example.org"), "chat.example.org");
    assert.equal(x.checkHost("localhost"), "localhost");
    assert.equal(x.checkIP("127.0.0.1"), "127.0.0.1");
    assert.deepEqual(x.keyUsage, ["1.3.6.1.5.5.7.3.1"], "extendedKeyUsage serverAuth");
    assert.equal(first.fingerprint256, x.fingerprint256);
    assert.match(first.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const text = execOpenssl(["x509", "-noout", "-text"], first.cert);
    if (text !== undefined) {
      assert.match(text, /Key Usage: critical\s+Digital Signature, Key Encipherment, Certificate Sign/);
      assert.match(text, /Basic Constraints: critical\s+CA:TRUE/);
    }

    const again = await loadOrCreateTls({ dataDir: data, serverName: "chat.example.org:3158" });
    assert.equal(again.source, "data-dir");
    assert.equal(again.fingerprint256, first.fingerprint256);
  });

  test("an IP address as the server name goes into the SAN as an IP", async () => {
    const t = await loadOrCreateTls({ dataDir: path.join(dir, "ip"), serverName: "10.1.2.3:3158" });
    assert.equal(new X509Certificate(t.cert).checkIP("10.1.2.3"), "10.1.2.3");
  });

  test("Node (OpenSSL) completes a verified handshake when the user trusts it", async () => {
    const t = await loadOrCreateTls({ dataDir: path.join(dir, "node"), serverName: "chat.example.org:3158" });
    const server = tls.createServer({ key: t.key, cert: t.cert }, (s) => s.end("ok"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    try {
      const sock = tls.connect({ host: "127.0.0.1", port, servername: "chat.example.org", ca: t.cert });
      await once(sock, "secureConnect");
      assert.equal(sock.authorized, true, String(sock.authorizationError));
      sock.destroy();
      // Not trusted: refused as self-signed — the case a client asks the user about.
      const untrusted = tls.connect({
        host: "127.0.0.1",
        port,
        servername: "chat.example.org",
        rejectUnauthorized: false,
      });
      await once(untrusted, "secureConnect");
      assert.equal(untrusted.authorized, false);
      assert.equal(String(untrusted.authorizationError), "DEPTH_ZERO_SELF_SIGNED_CERT");
      untrusted.destroy();
    } finally {
      server.close();
    }
  });

  test("a CA:FALSE certificate left by an older version is replaced, saying why", async () => {
    const data = path.join(dir, "old");
    const old = await caFalseCertificate();
    await mkdir(path.join(data, "tls"), { recursive: true });
    await writeFile(path.join(data, "tls", "cert.pem"), old.cert);
    await writeFile(path.join(data, "tls", "key.pem"), old.key);
    assert.match(outdatedReason(old.cert) ?? "", /CA:FALSE/);

    const t = await loadOrCreateTls({ dataDir: data, serverName: "localhost:3158" });
    assert.equal(t.source, "replaced");
    assert.match(t.replacedReason ?? "", /CA:FALSE/);
    assert.equal(new X509Certificate(t.cert).ca, true);
    assert.equal(await readFile(path.join(data, "tls", "cert.pem"), "utf8"), t.cert);
    assert.equal((await loadOrCreateTls({ dataDir: data, serverName: "localhost:3158" })).source, "data-dir");
  });
});

// NSS, with its own tools (Debian: libnss3-tools). .ci/run installs them; under CI a missing
// certutil is a failure, elsewhere the suite says it skipped and why.
const haveNss = spawnSync("certutil", ["-H"], { stdio: "ignore" }).error === undefined;
const nssSkip =
  haveNss || process.env.CI === "true"
    ? false
    : "certutil/vfychain not installed (apt-get install libnss3-tools); NSS checks skipped";

describe("NSS (libpurple's TLS stack)", { skip: nssSkip }, () => {
  test("CI has NSS's tools", () => {
    assert.ok(haveNss, "certutil not found: .ci/run installs libnss3-tools");
  });

  test("untrusted, the only complaint is the untrusted issuer; trusted, it verifies for SSL server use", async () => {
    const t = await loadOrCreateTls({ dataDir: path.join(dir, "nss"), serverName: "chat.example.org:3158" });
    const db = await nssDb(t.cert, "impp");
    const untrusted = run("certutil", ["-V", "-d", `sql:${db}`, "-n", "impp", "-u", "V"]);
    assert.notEqual(untrusted.status, 0);
    assert.match(untrusted.out, /issuer has been marked as not trusted/);
    const chain = run("vfychain", [
      "-d",
      `sql:${db}`,
      "-u",
      "1",
      "-a",
      path.join(dir, "nss", "tls", "cert.pem"),
    ]);
    const errors = [...chain.out.matchAll(/ERROR (-\d+)/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(errors)], ["-8172"], chain.out); // SEC_ERROR_UNTRUSTED_ISSUER only

    // What a user's "accept" amounts to: trust it as an SSL CA.
    execFileSync("certutil", ["-M", "-d", `sql:${db}`, "-n", "impp", "-t", "C,,"]);
    const trusted = run("vfychain", [
      "-d",
      `sql:${db}`,
      "-u",
      "1",
      "-a",
      path.join(dir, "nss", "tls", "cert.pem"),
    ]);
    assert.equal(trusted.status, 0, trusted.out);
    assert.match(trusted.out, /Chain is good/);
    assert.equal(run("certutil", ["-V", "-d", `sql:${db}`, "-n", "impp", "-u", "V"]).status, 0);
  });

  test("the older CA:FALSE certificate is what NSS refused outright (the reason it is replaced)", async () => {
    const old = await caFalseCertificate();
    const db = await nssDb(old.cert, "old");
    execFileSync("certutil", ["-M", "-d", `sql:${db}`, "-n", "old", "-t", "C,,"]);
    const r = run("certutil", ["-V", "-d", `sql:${db}`, "-n", "old", "-u", "V"]);
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.out, /not trusted/);
  });
});

async function nssDb(certPem: string, nick: string): Promise<string> {
  const db = await mkdtemp(path.join(dir, "nssdb-"));
  execFileSync("certutil", ["-N", "-d", `sql:${db}`, "--empty-password"]);
  const file = path.join(db, `${nick}.pem`);
  await writeFile(file, certPem);
  execFileSync("certutil", ["-A", "-d", `sql:${db}`, "-n", nick, "-t", ",,", "-i", file]);
  return db;
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function execOpenssl(args: string[], input: string): string | undefined {
  const r = spawnSync("openssl", args, { input, encoding: "utf8" });
  return r.error === undefined && r.status === 0 ? r.stdout : undefined;
}

/** What versions before this one generated: a CA:FALSE leaf with digitalSignature+keyEncipherment. */
async function caFalseCertificate(): Promise<{ cert: string; key: string }> {
  const provider = webcrypto as unknown as NonNullable<
    Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]
  >;
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: "01",
      name: "CN=localhost",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: alg,
      keys: keys as never,
      extensions: [
        new x509.BasicConstraintsExtension(false),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }]),
      ],
    },
    provider,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    cert: cert.toString("pem"),
    key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64")}\n-----END PRIVATE KEY-----\n`,
  };
}
