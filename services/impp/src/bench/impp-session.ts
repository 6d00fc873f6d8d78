// The benchmark's IMPP load session (bench:compare): see LeanImppSession.
import type tls from "node:tls";
import { type ImppClient, imSendBlock } from "@impp/client";
import { Channel, Family, Flags, FrameDecoder, ImTlv, ImType, ProtocolError, TlvBlock } from "@impp/protocol";

/**
 * An IMPP session as lean as compare.ts's XMPP one: it logs in with the client library, then takes the
 * TLS socket over and writes and reads the message frames itself — one write per message, nothing
 * kept per message. Through the library each message cost the load generator a promise, a timer and
 * a parsed frame, and the library keeps every indication nobody takes (up to 100,000 per client):
 * the load generator's own GC pauses then showed up as IMPP's latency.
 */
export class LeanImppSession {
  private readonly socket: tls.TLSSocket;
  private readonly decoder = new FrameDecoder();
  private readonly header = {
    flags: Flags.REQUEST,
    family: Family.IM,
    type: ImType.MESSAGE_SEND,
    sequence: 1,
  };
  private bodyFn: ((body: Buffer) => void) | undefined;
  refused = 0;
  constructor(
    private readonly c: ImppClient,
    private readonly to: string | undefined,
  ) {
    this.socket = (c as unknown as { socket: tls.TLSSocket }).socket;
    this.socket.removeAllListeners("data");
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
  }
  send(body: Buffer): void {
    if (this.to === undefined) throw new Error("this session has no peer to send to");
    this.header.sequence = this.header.sequence >= 0x7fff_ffff ? 1 : this.header.sequence + 1;
    this.socket.write(imSendBlock(this.to, body).frame(this.header));
  }
  onBody(fn: (body: Buffer) => void): void {
    this.bodyFn = fn;
  }
  private onData(chunk: Buffer): void {
    this.decoder.push(chunk);
    for (;;) {
      const f = this.decoder.next();
      if (f === null) return;
      if (f instanceof ProtocolError) {
        this.socket.destroy(f);
        return;
      }
      if (f.channel !== Channel.TLV || f.family !== Family.IM || f.type !== ImType.MESSAGE_SEND) continue;
      if ((f.flags & Flags.ERROR) !== 0) this.refused++;
      else if ((f.flags & Flags.INDICATION) !== 0 && this.bodyFn !== undefined) {
        const tlvs = TlvBlock.parse(f.block, f.family);
        const body = tlvs instanceof ProtocolError ? undefined : tlvs.first(ImTlv.MESSAGE_CHUNK);
        if (body !== undefined) this.bodyFn(body);
      }
    }
  }
  close(): Promise<void> {
    return this.c.close().catch(() => {});
  }
  destroy(): void {
    this.c.destroy();
  }
  tlsProtocol(): string {
    return this.socket.getProtocol?.() ?? "none";
  }
}
