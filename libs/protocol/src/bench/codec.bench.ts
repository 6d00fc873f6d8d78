// Codec throughput, printed (not asserted): `npm run bench:codec`.
// For a small IM MESSAGE_SEND and a ~2 KB LISTS GET response: streaming decode in 64 KiB chunks and
// encode, each next to Buffer.copy of the same bytes as the memory-bandwidth reference.
import { Family, Flags, ImTlv, ImType, ListsTlv, ListsType } from "../constants.js";
import { FrameDecoder } from "../decoder.js";
import type { FrameHeader } from "../errors.js";
import { encodeFrame } from "../frame.js";
import { TlvWriter } from "../tlv.js";

const CHUNK = 64 * 1024;
const STREAM_BYTES = 32 * 1024 * 1024;
const MIN_MS = 400;
const ROUNDS = 5;

interface Case {
  name: string;
  /** Builds one complete frame the way a sender does. */
  build: (seq: number) => Buffer;
  header: FrameHeader;
  block: Buffer;
}

const messageHeader: FrameHeader = {
  flags: Flags.REQUEST,
  family: Family.IM,
  type: ImType.MESSAGE_SEND,
  sequence: 1,
};
function buildMessage(seq: number): Buffer {
  return new TlvWriter(96)
    .string(ImTlv.TO, "arthur.dent")
    .u16(ImTlv.CAPABILITY, 1)
    .bytes(ImTlv.MESSAGE_ID, MESSAGE_ID)
    .u32(ImTlv.MESSAGE_SIZE, 40)
    .string(ImTlv.MESSAGE_CHUNK, "Don't panic. And bring a towel, always!!")
    .u64(ImTlv.CREATED_AT, 1_764_100_000_000 + seq)
    .frame({ ...messageHeader, sequence: seq });
}
const MESSAGE_ID = Buffer.from([1, 2, 3, 4]);

const listsHeader: FrameHeader = {
  flags: Flags.RESPONSE,
  family: Family.LISTS,
  type: ListsType.GET,
  sequence: 1,
};
const contacts = Array.from({ length: 100 }, (_, i) => `contact.no.${String(i).padStart(4, "0")}`);
function buildLists(seq: number): Buffer {
  const w = new TlvWriter(2048);
  for (const c of contacts) w.string(ListsTlv.CONTACT_ADDRESS, c);
  return w.frame({ ...listsHeader, sequence: seq });
}

function makeCase(name: string, build: (seq: number) => Buffer, header: FrameHeader): Case {
  const frame = build(1);
  return { name, build, header, block: Buffer.from(frame.subarray(16)) };
}

const cases = [
  makeCase("IM MESSAGE_SEND", buildMessage, messageHeader),
  makeCase("LISTS GET response", buildLists, listsHeader),
];

/** Runs `fn` (which processes `bytes` bytes and `frames` frames per call) for ≥ MIN_MS, best of ROUNDS. */
function measure(fn: () => void, frames: number, bytes: number): { fps: number; mbps: number } {
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let calls = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    do {
      fn();
      calls++;
      elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    } while (elapsed * 1000 < MIN_MS);
    best = Math.max(best, calls / elapsed);
  }
  return { fps: best * frames, mbps: (best * bytes) / 1e6 };
}

function fmt(n: number): string {
  if (n >= 1e6) return (n / 1e6).toFixed(2) + " M";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + " k";
  return n.toFixed(0) + " ";
}

let sink = 0;

function row(label: string, r: { fps: number; mbps: number }, ref: number): void {
  const pct = ((r.mbps / ref) * 100).toFixed(1);
  console.log(
    `  ${label.padEnd(30)} ${(fmt(r.fps) + "frames/s").padStart(16)} ${(r.mbps.toFixed(0) + " MB/s").padStart(12)}   ${pct.padStart(5)}% of copy`,
  );
}

for (const c of cases) {
  const one = c.build(1);
  const perStream = Math.floor(STREAM_BYTES / one.length);
  const stream = Buffer.concat(Array.from({ length: perStream }, (_, i) => c.build(i + 1)));
  const chunks: Buffer[] = [];
  for (let off = 0; off < stream.length; off += CHUNK) chunks.push(stream.subarray(off, off + CHUNK));

  // Reference: the same bytes through Buffer.copy, chunk by chunk.
  const dest = Buffer.allocUnsafe(CHUNK);
  const copy = measure(
    () => {
      for (const ch of chunks) ch.copy(dest, 0);
      sink += dest[0]!;
    },
    perStream,
    stream.length,
  );

  const decode = measure(
    () => {
      const d = new FrameDecoder();
      let n = 0;
      for (const ch of chunks) {
        d.push(ch);
        for (let f = d.next(); f !== null; f = d.next()) {
          if (f instanceof Error) throw f;
          // Touch the result so the frame object and its block view cannot be optimised away.
          if (f.channel === 2) sink += f.block.length + f.sequence;
          n++;
        }
      }
      if (n !== perStream) throw new Error(`decoded ${n} of ${perStream} frames`);
    },
    perStream,
    stream.length,
  );

  const ENC = 20_000;
  const encodeBuild = measure(
    () => {
      for (let i = 0; i < ENC; i++) sink += c.build(i).length;
    },
    ENC,
    ENC * one.length,
  );
  const encodeFrameOnly = measure(
    () => {
      for (let i = 0; i < ENC; i++) sink += encodeFrame(c.header, c.block).length;
    },
    ENC,
    ENC * one.length,
  );

  console.log(
    `\n${c.name}: ${one.length}-byte frames, ${perStream} per ${(stream.length / 1e6).toFixed(1)} MB stream`,
  );
  row("Buffer.copy (reference)", copy, copy.mbps);
  row("decode (streaming, 64 KiB)", decode, copy.mbps);
  row("encode (TlvWriter → frame)", encodeBuild, copy.mbps);
  row("encode (encodeFrame, block)", encodeFrameOnly, copy.mbps);
}
if (sink === -1) console.log(sink);
