import { generate } from "selfsigned";

export interface TestCert {
  key: string;
  cert: string;
}

let certPromise: Promise<TestCert> | undefined;

/**
 * One throwaway self-signed certificate per test process, valid for localhost and 127.0.0.1 and
 * usable as its own CA (a client can pass `cert` as `ca` and verify the server).
 */
export function testCert(): Promise<TestCert> {
  certPromise ??= generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
        ],
      },
    ],
  }).then((p) => ({ key: p.private, cert: p.cert }));
  return certPromise;
}
