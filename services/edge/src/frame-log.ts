// The per-frame trace log: one line per frame in and out, with the connection, the account, the
// header and the TLVs as `impp decode` shows them — passwords never, message bodies only with
// IMPP_LOG_BODIES. Made only when the logger is at trace level (checked once, at edge start): when
// it is not, connections hold `undefined` and pay one property test per frame, nothing more.
import {
  AvatarTlv,
  Channel,
  Family,
  FrameDecoder,
  type FrameHeader,
  familyName,
  flagsName,
  GroupChatsTlv,
  ImTlv,
  inflateBlock,
  ProtocolError,
  renderBlockLine,
  StreamTlv,
  type TlvRedactor,
  typeName,
} from "@impp/protocol";
import type { Logger } from "@impp/telemetry";

/** What the log says about the connection a frame belongs to. */
export interface FrameLogConn {
  readonly id: string;
  readonly account: string;
  readonly device: string;
  readonly remoteAddress: string;
  /** The connection's impp.session trace id. */
  readonly traceId: string;
}

export interface FrameLog {
  /** A frame as it arrived; `compressed`: the block is still deflated. */
  frameIn(conn: FrameLogConn, h: FrameHeader, block: Buffer, compressed: boolean): void;
  /** Complete uncompressed frames about to be written (one line each). */
  framesOut(conn: FrameLogConn, bytes: Uint8Array): void;
  /** One frame about to be written, as header and (uncompressed) block. */
  frameOut(conn: FrameLogConn, h: FrameHeader, block: Uint8Array): void;
}

const PASSWORD = "<password>";
const BODY = "<body: IMPP_LOG_BODIES=true shows it>";

/** Passwords always; bodies unless `bodies`. */
export function frameRedactor(bodies: boolean): TlvRedactor {
  return (family, type) => {
    if (family === Family.STREAM && (type === StreamTlv.PASSWORD || type === StreamTlv.PASSWORD_ALT))
      return PASSWORD;
    if (bodies) return undefined;
    if (
      (family === Family.IM && type === ImTlv.MESSAGE_CHUNK) ||
      (family === Family.GROUP_CHATS && type === GroupChatsTlv.MESSAGE) ||
      (family === Family.AVATAR && type === AvatarTlv.DATA)
    )
      return BODY;
    return undefined;
  };
}

/** The frame log, or undefined when the logger is above trace (nothing is built then). */
export function createFrameLog(
  logger: Logger,
  opts: { bodies: boolean; maxBlockSize: number },
): FrameLog | undefined {
  if (!logger.isLevelEnabled("trace")) return undefined;
  const redact = frameRedactor(opts.bodies);
  const line = (
    conn: FrameLogConn,
    dir: "in" | "out",
    h: FrameHeader,
    size: number,
    block: Buffer | string,
  ) => {
    logger.trace(
      {
        conn: conn.id,
        trace_id: conn.traceId,
        account: conn.account || undefined,
        device: conn.device || undefined,
        remoteAddress: conn.remoteAddress,
        dir,
        family: familyName(h.family),
        type: typeName(h.family, h.type),
        seq: h.sequence,
        flags: flagsName(h.flags),
        block: size,
        tlvs: typeof block === "string" ? block : renderBlockLine(h.family, block, redact),
      },
      "frame",
    );
  };
  return {
    frameIn(conn, h, block, compressed) {
      if (!compressed || block.length === 0) {
        line(conn, "in", h, block.length, block);
        return;
      }
      const inflated = inflateBlock(block, opts.maxBlockSize);
      line(
        conn,
        "in",
        h,
        block.length,
        inflated instanceof ProtocolError ? `! ${inflated.message}` : inflated,
      );
    },
    frameOut(conn, h, block) {
      line(conn, "out", h, block.length, Buffer.from(block.buffer, block.byteOffset, block.length));
    },
    framesOut(conn, bytes) {
      const d = new FrameDecoder({
        maxBlockSize: Math.max(opts.maxBlockSize, bytes.length),
        checkTlvs: false,
      });
      d.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      for (let f = d.next(); f !== null; f = d.next()) {
        if (f instanceof ProtocolError) break;
        if (f.channel === Channel.VERSION) continue;
        line(conn, "out", f, f.block.length, f.block);
      }
    },
  };
}
