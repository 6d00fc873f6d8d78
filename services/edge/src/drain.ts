// Drain (the SIGTERM path): stop accepting, tell bound clients to reconnect elsewhere, close what
// is left after the grace period. The notice is the DEVICE BIND error DEVICE_BOUND_ELSEWHERE with a
// SERVER TLV (PROTOCOL.md §4.2) — one real client reconnects to SERVER on exactly that error.
import { DeviceError, DeviceTlv, DeviceType, Family, Flags, TlvWriter } from "@impp/protocol";

/** The complete (uncompressed) message sent to every bound connection when the edge drains. */
export function drainNotice(server: string): Buffer {
  return new TlvWriter(16 + server.length * 3)
    .u16(DeviceTlv.ERRORCODE, DeviceError.DEVICE_BOUND_ELSEWHERE)
    .string(DeviceTlv.SERVER, server)
    .frame({ flags: Flags.ERROR, family: Family.DEVICE, type: DeviceType.BIND, sequence: 0 });
}

/**
 * Resolves after `graceMs`, or earlier when `allGone` reports that every connection left. The
 * returned `notify` is called by the edge whenever a connection closes.
 */
export function graceWait(graceMs: number, allGone: () => boolean): { done: Promise<void>; notify(): void } {
  let resolve!: () => void;
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  const timer = setTimeout(resolve, graceMs);
  timer.unref();
  const finish = () => {
    clearTimeout(timer);
    resolve();
  };
  if (allGone()) finish();
  return {
    done,
    notify() {
      if (allGone()) finish();
    },
  };
}
