import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { nameCandidates, wellFormed } from "./names.js";
import { applyPatch, decodeDevice, encodeDevice, encodeDeviceTail } from "./record.js";
import { type DeviceRecord, SessionError } from "./types.js";

const str = (max: number) => fc.string({ unit: "grapheme", maxLength: max });

const arbRecord: fc.Arbitrary<DeviceRecord> = fc
  .record(
    {
      account: str(64),
      name: str(64),
      edgeId: str(64),
      connId: str(32),
      remoteAddress: str(64),
      connectedAt: fc.integer({ min: 0, max: 2 ** 48 }),
      clientName: str(64),
      clientPlatform: str(64),
      clientModel: str(64),
      clientArch: str(16),
      clientVersion: str(16),
      clientBuild: str(16),
      clientDescription: str(200),
      status: fc.integer({ min: 0, max: 0xffff }),
      statusMessage: str(300),
      capabilities: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }),
      isIdle: fc.boolean(),
      isMobile: fc.boolean(),
      isStatusAutomatic: fc.boolean(),
      server: str(80),
    },
    {
      requiredKeys: [
        "account",
        "name",
        "edgeId",
        "connId",
        "remoteAddress",
        "connectedAt",
        "status",
        "capabilities",
        "isIdle",
        "isMobile",
        "isStatusAutomatic",
      ],
    },
  )
  .map((r) => ({ ...r }) as DeviceRecord);

const corrupt = (e: unknown) => e instanceof SessionError && e.kind === "CORRUPT_RECORD";

describe("device record codec", () => {
  test("a record written before SERVER was stored still reads, without a server", () => {
    const r: DeviceRecord = {
      account: "a",
      name: "pc",
      edgeId: "e1",
      connId: "c1",
      remoteAddress: "192.0.2.1",
      connectedAt: 1,
      status: 1,
      capabilities: [1],
      isIdle: false,
      isMobile: false,
      isStatusAutomatic: false,
    };
    const withServer = encodeDevice({ ...r, server: "edge-1.example:3158" });
    const without = encodeDevice(r);
    assert.equal(withServer.length, without.length + 2 + "edge-1.example:3158".length);
    assert.deepEqual(decodeDevice("a", without), r);
    assert.equal(decodeDevice("a", withServer).server, "edge-1.example:3158");
  });

  test("round trips any record", () => {
    fc.assert(
      fc.property(arbRecord, (r) => {
        assert.deepEqual(decodeDevice(r.account, encodeDevice(r)), r);
      }),
    );
  });

  test("the tail plus a header written the way the Lua script writes it is the full record", () => {
    fc.assert(
      fc.property(arbRecord, (r) => {
        const { name, ...rest } = r;
        const n = Buffer.from(name, "utf8");
        const full = Buffer.concat([
          Buffer.from([1, n.length >> 8, n.length & 0xff]),
          n,
          encodeDeviceTail(rest),
        ]);
        assert.deepEqual(full, encodeDevice(r));
      }),
    );
  });

  test("a minimal record is small (no JSON, no field names)", () => {
    const r: DeviceRecord = {
      account: "alice",
      name: "laptop",
      edgeId: "edge-1",
      connId: "42",
      remoteAddress: "192.0.2.1:5000",
      connectedAt: 1_700_000_000_000,
      status: 1,
      capabilities: [1, 2, 3],
      isIdle: false,
      isMobile: false,
      isStatusAutomatic: false,
    };
    // 1 version + 4 length-prefixed strings + 8 + 2 + 1 + 1 + (2 + 6)
    assert.equal(encodeDevice(r).length, 1 + (2 + 6) + (2 + 6) + (2 + 2) + (2 + 14) + 8 + 2 + 1 + 1 + 2 + 6);
  });

  test("truncated, extended or unknown-version bytes are CORRUPT_RECORD, never a crash or a wrong record", () => {
    const good = encodeDevice({
      account: "a",
      name: "n",
      edgeId: "e",
      connId: "c",
      remoteAddress: "r",
      connectedAt: 5,
      status: 1,
      statusMessage: "hello",
      capabilities: [9],
      isIdle: true,
      isMobile: false,
      isStatusAutomatic: false,
    });
    for (let len = 0; len < good.length; len++)
      assert.throws(() => decodeDevice("a", good.subarray(0, len)), corrupt);
    assert.throws(() => decodeDevice("a", Buffer.concat([good, Buffer.from([0])])), corrupt);
    const v2 = Buffer.from(good);
    v2[0] = 2;
    assert.throws(() => decodeDevice("a", v2), /unknown version 2/);
  });

  test("random bytes decode or fail with CORRUPT_RECORD only", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const b = Buffer.from(bytes);
        if (b.length > 0) b[0] = 1;
        try {
          decodeDevice("a", b);
        } catch (e) {
          assert.ok(corrupt(e), String(e));
        }
      }),
    );
  });

  test("values that do not fit are INVALID_RECORD", () => {
    const base: DeviceRecord = {
      account: "a",
      name: "n",
      edgeId: "e",
      connId: "c",
      remoteAddress: "r",
      connectedAt: 5,
      status: 1,
      capabilities: [],
      isIdle: false,
      isMobile: false,
      isStatusAutomatic: false,
    };
    const invalid = (e: unknown) => e instanceof SessionError && e.kind === "INVALID_RECORD";
    assert.throws(() => encodeDevice({ ...base, status: -1 }), invalid);
    assert.throws(() => encodeDevice({ ...base, status: 1.5 }), invalid);
    assert.throws(() => encodeDevice({ ...base, capabilities: [65536] }), invalid);
    assert.throws(() => encodeDevice({ ...base, connectedAt: Number.NaN }), invalid);
    assert.throws(() => encodeDevice({ ...base, statusMessage: "x".repeat(65536) }), invalid);
    assert.equal(
      decodeDevice("a", encodeDevice({ ...base, statusMessage: "x".repeat(65535) })).statusMessage?.length,
      65535,
    );
  });

  test("applyPatch copies and leaves absent keys alone", () => {
    const r: DeviceRecord = {
      account: "a",
      name: "n",
      edgeId: "e",
      connId: "c",
      remoteAddress: "r",
      connectedAt: 5,
      status: 1,
      statusMessage: "m",
      capabilities: [1],
      isIdle: false,
      isMobile: false,
      isStatusAutomatic: false,
    };
    const p = applyPatch(r, { isIdle: true });
    assert.equal(p.statusMessage, "m");
    assert.equal(p.isIdle, true);
    assert.equal(r.isIdle, false);
    const caps = [4];
    const q = applyPatch(r, { capabilities: caps });
    caps.push(5);
    assert.deepEqual(q.capabilities, [4]);
  });
});

describe("device name candidates", () => {
  test("wish first, then numbered suffixes", () => {
    assert.deepEqual(nameCandidates("pc", 4), ["pc", "pc-2", "pc-3", "pc-4"]);
    assert.deepEqual(nameCandidates("  pc  ", 1), ["pc"]);
    assert.deepEqual(nameCandidates("", 2), ["device", "device-2"]);
  });

  test("every candidate fits 64 code points and they are all distinct", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 100 }),
        fc.integer({ min: 1, max: 120 }),
        (wish, n) => {
          const c = nameCandidates(wish, n);
          assert.equal(c.length, n);
          assert.equal(new Set(c).size, n);
          for (const name of c) {
            assert.ok([...name].length <= 64);
            assert.equal(wellFormed(name), name, "no lone surrogates");
          }
        },
      ),
    );
  });

  test("lone surrogates become U+FFFD so Redis and memory agree on names", () => {
    assert.equal(nameCandidates("a\uD800b", 1)[0], "a\uFFFDb");
    assert.equal(nameCandidates("😀", 1)[0], "😀");
  });
});
