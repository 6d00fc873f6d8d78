import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { Family, Flags, ImTlv, ImType, StreamTlv, StreamType, TlvWriter } from "@impp/protocol";
import pino from "pino";
import { createFrameLog } from "./frame-log.js";

const conn = {
  id: "c1",
  account: "alice",
  device: "desk",
  remoteAddress: "10.0.0.9",
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
};

function logger(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk, _e, cb) {
      lines.push(JSON.parse(chunk.toString()));
      cb();
    },
  });
  return { lines, log: pino({ level }, dest) };
}

test("no frame log is made above trace: connections build nothing per frame", () => {
  for (const level of ["debug", "info", "silent"]) {
    assert.equal(createFrameLog(logger(level).log, { bodies: true, maxBlockSize: 1 << 16 }), undefined);
  }
});

test("both password TLVs are redacted whatever IMPP_LOG_BODIES says; bodies only without it", () => {
  const { lines, log } = logger("trace");
  const fl = createFrameLog(log, { bodies: false, maxBlockSize: 1 << 16 })!;
  const auth = new TlvWriter()
    .string(StreamTlv.NAME, "alice")
    .string(StreamTlv.PASSWORD, "pw-one")
    .string(StreamTlv.PASSWORD_ALT, "pw-two")
    .finish();
  fl.frameIn(
    conn,
    { flags: 0, family: Family.STREAM, type: StreamType.AUTHENTICATE, sequence: 7 },
    auth,
    false,
  );
  const im = new TlvWriter().string(ImTlv.TO, "bob").string(ImTlv.MESSAGE_CHUNK, "hello").frame({
    flags: Flags.INDICATION,
    family: Family.IM,
    type: ImType.MESSAGE_SEND,
    sequence: 0,
  });
  fl.framesOut(conn, im);
  assert.equal(lines.length, 2);
  const [a, b] = lines as [Record<string, unknown>, Record<string, unknown>];
  assert.deepEqual(
    [a.dir, a.family, a.type, a.seq, a.conn, a.account, a.block],
    ["in", "STREAM", "AUTHENTICATE", 7, "c1", "alice", auth.length],
  );
  assert.doesNotMatch(JSON.stringify(lines), /pw-one|pw-two|hello/);
  assert.match(String(a.tlvs), /<password> \(6 bytes\).*<password> \(6 bytes\)/);
  assert.equal(b.dir, "out");
  assert.match(String(b.tlvs), /MESSAGE_CHUNK \(6\)\s+<body/);

  const shown = logger("trace");
  createFrameLog(shown.log, { bodies: true, maxBlockSize: 1 << 16 })!.framesOut(conn, im);
  assert.match(String(shown.lines[0]!.tlvs), /"hello"/);
});
