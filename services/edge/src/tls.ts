import { randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import path from "node:path";
import type * as X509 from "@peculiar/x509";

export interface TlsMaterial {
  key: string;
  cert: string;
  /**
   * Where it came from, for the start-up message: the operator's files, a certificate generated
   * now (first start), one generated earlier and kept in the data folder, or one generated now
   * because the kept one was of an older kind that clients cannot accept (`replacedReason` says why).
   */
  source: "files" | "generated" | "data-dir" | "replaced";
  certPath: string;
  /** SHA-256 fingerprint, colon-separated hex (what a client shows when asking to accept it). */
  fingerprint256: string;
  /** With source "replaced": what was wrong with the certificate that was there. */
  replacedReason?: string;
}

export class TlsSetupError extends Error {
  override readonly name = "TlsSetupError";
  constructor(
    readonly kind: "READ_FAILED" | "WRITE_FAILED",
    message: string,
  ) {
    super(message);
  }
}

/**
 * The operator's files when IMPP_TLS_CERT/IMPP_TLS_KEY are set; otherwise a
 * self-signed certificate kept in the data folder, made on first start so a
 * fresh clone can serve TLS with nothing installed.
 *
 * The generated certificate is its own CA (basicConstraints CA:TRUE, keyUsage keyCertSign +
 * digitalSignature + keyEncipherment, extendedKeyUsage serverAuth, SAN = the server's host,
 * localhost, 127.0.0.1, ::1). That is what lets every common TLS stack offer "accept this
 * certificate": NSS (libpurple, Firefox) refuses a self-signed CA:FALSE leaf outright
 * (SEC_ERROR_CA_CERT_INVALID, SEC_ERROR_INADEQUATE_KEY_USAGE) without asking, while for a
 * self-signed CA it reports only the untrusted issuer, which a user can override; OpenSSL,
 * .NET SslStream and Node accept it once trusted (pinned or added as a CA).
 */
export async function loadOrCreateTls(opts: {
  certFile?: string | undefined;
  keyFile?: string | undefined;
  dataDir: string;
  serverName: string;
}): Promise<TlsMaterial> {
  if (opts.certFile && opts.keyFile) {
    const [cert, key] = await Promise.all([readText(opts.certFile), readText(opts.keyFile)]);
    return { cert, key, source: "files", certPath: opts.certFile, fingerprint256: fingerprintOf(cert) };
  }
  const dir = path.join(opts.dataDir, "tls");
  const certPath = path.join(dir, "cert.pem");
  const keyPath = path.join(dir, "key.pem");
  let replacedReason: string | undefined;
  try {
    const [cert, key] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
    replacedReason = outdatedReason(cert);
    if (replacedReason === undefined)
      return { cert, key, source: "data-dir", certPath, fingerprint256: fingerprintOf(cert) };
  } catch {
    // Not there yet: make one below.
  }
  const host = opts.serverName.replace(/:\d+$/, "").replace(/^\[|\]$/g, "") || hostname();
  const pems = await generateSelfSigned(host);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(keyPath, pems.private, { mode: 0o600 });
    await chmod(keyPath, 0o600);
    await writeFile(certPath, pems.cert);
  } catch (err) {
    throw new TlsSetupError(
      "WRITE_FAILED",
      `cannot write the generated certificate to ${dir}: ${String(err)}`,
    );
  }
  const material: TlsMaterial = {
    cert: pems.cert,
    key: pems.private,
    source: replacedReason === undefined ? "generated" : "replaced",
    certPath,
    fingerprint256: fingerprintOf(pems.cert),
  };
  if (replacedReason !== undefined) material.replacedReason = replacedReason;
  return material;
}

/** Netscape certificate type (2.16.840.1.113730.1.1), BIT STRING: bit 1 SSL server, bit 5 SSL CA. */
type Provider = NonNullable<Parameters<typeof X509.X509CertificateGenerator.createSelfSigned>[1]>;
const provider = webcrypto as unknown as Provider;

const NS_CERT_TYPE_OID = "2.16.840.1.113730.1.1";
const NS_CERT_TYPE_SERVER_AND_SSL_CA = new Uint8Array([0x03, 0x02, 0x02, 0x44]);

/**
 * A self-signed certificate every common TLS stack lets a user accept (see loadOrCreateTls).
 *
 * NSS's legacy verifier (the one libpurple uses) derives a certificate's "type" from its
 * extensions: a CA:TRUE certificate with extendedKeyUsage serverAuth counts as an SSL *CA* only,
 * and is then refused as a server certificate with SEC_ERROR_INADEQUATE_CERT_TYPE even once the
 * user trusts it. The Netscape cert-type extension (server + SSL CA) says it is both; Apple's
 * stacks want the serverAuth EKU, so both are present. Checked by tls.nss.test.ts with NSS's tools.
 */
export async function generateSelfSigned(host: string): Promise<{ cert: string; private: string }> {
  // Loaded here, not at the top: only a first start (or an outdated certificate) makes one, and
  // the library is ~3 MiB of heap a running server would hold for nothing.
  const x509 = await import("@peculiar/x509");
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60 * 60 * 1000); // an hour of clock skew
  const notAfter = new Date();
  notAfter.setFullYear(notAfter.getFullYear() + 5);
  const names: Array<{ type: "dns" | "ip"; value: string }> = [];
  for (const n of [host, "localhost", "127.0.0.1", "::1"]) {
    const type = isIP(n) !== 0 ? "ip" : "dns";
    const value = type === "dns" ? n.toLowerCase() : n;
    if (!names.some((x) => x.type === type && x.value === value)) names.push({ type, value });
  }
  // A positive serial of 16 random bytes (the top bit cleared keeps the DER INTEGER positive).
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString("hex"),
      name: [{ CN: [host] }],
      notBefore,
      notAfter,
      signingAlgorithm: alg,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign |
            x509.KeyUsageFlags.digitalSignature |
            x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.Extension(NS_CERT_TYPE_OID, false, NS_CERT_TYPE_SERVER_AND_SSL_CA),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
        await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey, false, provider),
      ],
    },
    provider,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const b64 = pkcs8
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return {
    cert: `${cert.toString("pem")}\n`,
    private: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`,
  };
}

/**
 * Why a certificate found in the data folder must be made again, or undefined when it is fine:
 * versions before this one generated a CA:FALSE leaf, which NSS refuses without asking.
 */
export function outdatedReason(certPem: string): string | undefined {
  let x: X509Certificate;
  try {
    x = new X509Certificate(certPem);
  } catch (e) {
    return `unreadable (${(e as Error).message})`;
  }
  if (!x.ca) return "it is CA:FALSE, which NSS clients refuse without asking (made by an older version)";
  if (Date.parse(x.validTo) <= Date.now()) return `it expired on ${x.validTo}`;
  return undefined;
}

function fingerprintOf(certPem: string): string {
  try {
    return new X509Certificate(certPem).fingerprint256;
  } catch {
    return "(unreadable certificate)";
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new TlsSetupError("READ_FAILED", `cannot read ${file}: ${(err as Error).message}`);
  }
}
