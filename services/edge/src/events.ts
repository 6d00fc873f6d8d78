// The events the edge publishes. Other features subscribe to them through "@impp/edge/events",
// which loads nothing else of the edge.
import { checkInt, strLen } from "@impp/bus";
import { defineEvent } from "@impp/service-kit";

/** A bound connection closed without UNBIND (the presence service unbinds the device). */
export interface DeviceGone {
  account: string;
  device: string;
  /** The connection that bound it: a late event must not remove a newer device of the same name. */
  connId: string;
  edgeId: string;
  /** Why the connection closed: a CloseReason (u16). */
  reason: number;
}

// The payload keeps the bytes of the device-gone envelope it replaces, so edges and presence
// instances of either version understand each other during a rolling upgrade.
export const deviceGoneEvent = defineEvent<DeviceGone>({
  name: "device-gone",
  size(e) {
    checkInt("reason", e.reason, 0xffff);
    const strings =
      strLen("account", e.account) +
      strLen("device", e.device) +
      strLen("connId", e.connId) +
      strLen("edgeId", e.edgeId);
    // Four u8 length prefixes and the u16 reason.
    return strings + 4 + 2;
  },
  write(w, e) {
    w.str(e.account, Buffer.byteLength(e.account));
    w.str(e.device, Buffer.byteLength(e.device));
    w.str(e.connId, Buffer.byteLength(e.connId));
    w.str(e.edgeId, Buffer.byteLength(e.edgeId));
    w.u16(e.reason);
  },
  read: (r) => ({
    account: r.str("account"),
    device: r.str("device"),
    connId: r.str("connId"),
    edgeId: r.str("edgeId"),
    reason: r.u16("reason"),
  }),
});

/**
 * A device the live state had lost (Redis restarted empty) is registered again by its edge: the
 * presence service recomputes what the user's watchers see.
 */
export interface DeviceRestored {
  account: string;
  device: string;
  connId: string;
  edgeId: string;
}

export const deviceRestoredEvent = defineEvent<DeviceRestored>({
  name: "device-restored",
  size: (e) =>
    strLen("account", e.account) +
    strLen("device", e.device) +
    strLen("connId", e.connId) +
    strLen("edgeId", e.edgeId) +
    4,
  write(w, e) {
    w.str(e.account, Buffer.byteLength(e.account));
    w.str(e.device, Buffer.byteLength(e.device));
    w.str(e.connId, Buffer.byteLength(e.connId));
    w.str(e.edgeId, Buffer.byteLength(e.edgeId));
  },
  read: (r) => ({
    account: r.str("account"),
    device: r.str("device"),
    connId: r.str("connId"),
    edgeId: r.str("edgeId"),
  }),
});
