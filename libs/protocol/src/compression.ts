import { deflateSync, inflateSync } from "node:zlib";
import { ProtocolError } from "./errors.js";

const EMPTY = Buffer.alloc(0);

/** Compresses one block as a complete zlib stream (PROTOCOL.md §2.6). An empty block stays empty. */
export function deflateBlock(block: Uint8Array): Buffer {
  if (block.length === 0) return EMPTY;
  return deflateSync(block);
}

/**
 * Inflates one compressed block. Size 0 is an empty block. The output is capped by zlib itself
 * (maxOutputLength), so a zip bomb stops at the limit instead of filling memory.
 */
export function inflateBlock(block: Uint8Array, maxSize: number): Buffer | ProtocolError {
  if (block.length === 0) return EMPTY;
  try {
    // zlib stops with ERR_BUFFER_TOO_LARGE as soon as the output would pass the limit.
    const out = inflateSync(block, { maxOutputLength: Math.max(1, maxSize) });
    return out.length > maxSize ? tooLarge(maxSize) : out;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") return tooLarge(maxSize);
    return new ProtocolError("INFLATE_FAILED", `block is not a valid zlib stream (${(e as Error).message})`);
  }
}

function tooLarge(maxSize: number): ProtocolError {
  return new ProtocolError("INFLATED_TOO_LARGE", `inflated block exceeds the ${maxSize}-byte limit`);
}
