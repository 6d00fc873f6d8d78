import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { generate } from "selfsigned";

export interface TlsMaterial {
  key: string;
  cert: string;
  /** Where it came from, for the start-up message. */
  source: "files" | "generated" | "data-dir";
  certPath: string;
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
 */
export async function loadOrCreateTls(opts: {
  certFile?: string | undefined;
  keyFile?: string | undefined;
  dataDir: string;
  serverName: string;
}): Promise<TlsMaterial> {
  if (opts.certFile && opts.keyFile) {
    const [cert, key] = await Promise.all([readText(opts.certFile), readText(opts.keyFile)]);
    return { cert, key, source: "files", certPath: opts.certFile };
  }
  const dir = path.join(opts.dataDir, "tls");
  const certPath = path.join(dir, "cert.pem");
  const keyPath = path.join(dir, "key.pem");
  try {
    const [cert, key] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
    return { cert, key, source: "data-dir", certPath };
  } catch {
    // Not there yet: make one below.
  }
  const host = opts.serverName.replace(/:\d+$/, "").replace(/^\[|\]$/g, "") || hostname();
  const notAfter = new Date();
  notAfter.setFullYear(notAfter.getFullYear() + 5);
  const pems = await generate([{ name: "commonName", value: host }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: notAfter,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: host },
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
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
  return { cert: pems.cert, key: pems.private, source: "generated", certPath };
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new TlsSetupError("READ_FAILED", `cannot read ${file}: ${(err as Error).message}`);
  }
}
