// Header rules shared by both implementations: the NATS client refuses keys
// outside printable ASCII (or with ':'), values with CR/LF, and counts the
// encoded headers against max_payload, so the in-process bus does the same.
import { BusError, type Headers } from "./bus.js";

function validKey(k: string): boolean {
  if (k.length === 0) return false;
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x3a) return false;
  }
  return true;
}

/**
 * Checked, trimmed copy (values are trimmed on the wire by NATS); undefined when
 * there are none, so empty headers and no headers look the same on arrival.
 */
export function normalizeHeaders(h: Headers | undefined): Headers | undefined {
  if (h === undefined) return undefined;
  let out: Headers | undefined;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (!validKey(k)) throw new BusError("BAD_HEADER", `invalid header name: ${JSON.stringify(k)}`);
    if (v.includes("\r") || v.includes("\n")) {
      throw new BusError("BAD_HEADER", `header ${k} has a line break in its value`);
    }
    out ??= {};
    out[k] = v.trim();
  }
  return out;
}

/** Bytes the headers take in a NATS HPUB ("NATS/1.0\r\n", "k: v\r\n" each, "\r\n"). */
export function headersWireSize(h: Headers | undefined): number {
  if (h === undefined) return 0;
  let n = 12;
  for (const k in h) n += k.length + 4 + Buffer.byteLength(h[k]!, "utf8");
  return n;
}
