// Hostile TLV traffic from logged-in, bound clients against the whole embedded server: random
// families, types and TLV contents (typed values of the wrong size, huge counts, nested junk),
// with and without compression. Every request must get a response or an error frame — never
// silence, never a crash — and another user must be served throughout.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connectAndLogin, type ImppClient } from "@impp/client";
import { Family, TlvWriter } from "@impp/protocol";
import fc from "fast-check";
import { type Cluster, startCluster } from "../testing/cluster.js";

let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ mode: "embedded", env: { IMPP_IDLE_TIMEOUT_MS: "60000" } });
  for (const name of ["fuzzer", "target", "bystander"]) await cluster.addUser(name, "pw");
});
after(() => cluster.stop());

const connect = (name: string, compression: boolean): Promise<ImppClient> => {
  const e = cluster.edges[0]!;
  return connectAndLogin({
    host: e.host,
    port: e.port,
    rejectUnauthorized: false,
    compression,
    name,
    password: "pw",
    timeoutMs: 10_000,
  });
};

const tlv = fc.record({
  type: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(0x4001), fc.integer({ min: 0, max: 0x7fff })),
  value: fc.oneof(
    fc.uint8Array({ maxLength: 9 }),
    fc.constantFrom("target", "fuzzer", "TARGET", "bystander", "x".repeat(70), "").map((s) => Buffer.from(s)),
    fc.uint8Array({ minLength: 0, maxLength: 3000 }),
  ),
});
const request = fc.record({
  family: fc.oneof(
    fc.integer({ min: 1, max: 7 }),
    fc.constant(Family.IM),
    fc.integer({ min: 0, max: 0xffff }),
  ),
  type: fc.integer({ min: 0, max: 12 }),
  tlvs: fc.array(tlv, { maxLength: 12 }),
});

for (const compression of [false, true]) {
  test(`random TLV requests from a bound client are all answered (${compression ? "compressed" : "plain"})`, async () => {
    const bystander = await connect("bystander", false);
    let fuzzer = await connect("fuzzer", compression);
    await connect("target", false);
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        // UNBIND of itself legitimately ends the session: start a new one.
        if (fuzzer.closed) fuzzer = await connect("fuzzer", compression);
        const w = new TlvWriter();
        for (const t of r.tlvs) w.bytes(t.type, t.value);
        const res = await fuzzer.request(r.family, r.type, w).catch((e: unknown) => {
          if (fuzzer.closed) return undefined; // closed right after its answer (UNBIND self)
          throw e;
        });
        if (res !== undefined) {
          assert.equal(res.sequence !== 0, true);
          answered++;
        }
      }),
      { numRuns: 400, seed: compression ? 42 : 7 },
    );
    assert.ok(answered > 300, `only ${answered} answered`);
    assert.equal((await bystander.ping()).isError, false, "the bystander is still served");
    fuzzer.destroy();
    bystander.destroy();
  });
}
