// DEVICE request TLVs, declared once (the kit checks them): every value is hostile, every limit
// is §6's or named here.
import { DeviceTlv, Status } from "@impp/protocol";
import type { Fields, Shape } from "@impp/service-kit";
import { type DevicePatch, MAX_DEVICE_NAME } from "@impp/sessions";

/** §6: STATUS_MESSAGE ≤ 1024 bytes. */
export const MAX_STATUS_MESSAGE_BYTES = 1024;
/** Client description TLVs have no limit in §6; this one keeps device records small. */
export const MAX_CLIENT_FIELD_BYTES = 1024;
/** More than any real client declares; bounds the record and every delivery filter check. */
export const MAX_CAPABILITIES = 256;
/** Valid capability values: core 1–16383, extensions 16384–32767 (§4.4). */
export const MAX_CAPABILITY = 0x7fff;

export interface ClientDescription {
  clientName?: string;
  clientPlatform?: string;
  clientModel?: string;
  clientArch?: string;
  clientVersion?: string;
  clientBuild?: string;
  clientDescription?: string;
}

/** Client descriptions are one line; a status message may have line breaks and tabs (§4.2). */
const text = <T extends "line" | "multiline">(tlv: number, maxBytes: number, cls: T) =>
  ({ tlv, kind: "string", maxBytes, text: cls }) as const;
const flag = (tlv: number) => ({ tlv, kind: "flag" }) as const;

/** The client description TLVs of BIND (§4.2). */
const clientShape = {
  clientName: text(DeviceTlv.CLIENT_NAME, MAX_CLIENT_FIELD_BYTES, "line"),
  clientPlatform: text(DeviceTlv.CLIENT_PLATFORM, MAX_CLIENT_FIELD_BYTES, "line"),
  clientModel: text(DeviceTlv.CLIENT_MODEL, MAX_CLIENT_FIELD_BYTES, "line"),
  clientArch: text(DeviceTlv.CLIENT_ARCH, MAX_CLIENT_FIELD_BYTES, "line"),
  clientVersion: text(DeviceTlv.CLIENT_VERSION, MAX_CLIENT_FIELD_BYTES, "line"),
  clientBuild: text(DeviceTlv.CLIENT_BUILD, MAX_CLIENT_FIELD_BYTES, "line"),
  clientDescription: text(DeviceTlv.CLIENT_DESCRIPTION, MAX_CLIENT_FIELD_BYTES, "line"),
} as const satisfies Shape;

/** The wished (BIND) or named (UNBIND) device; absent = "" (BIND: the store picks; UNBIND: this one). */
const deviceNameShape = {
  // 64 characters of up to 4 bytes each: anything longer cannot be a valid name.
  deviceName: {
    tlv: DeviceTlv.DEVICE_NAME,
    kind: "string",
    maxBytes: MAX_DEVICE_NAME * 4,
    maxChars: MAX_DEVICE_NAME,
    // Shown to the user's other devices and relayed: no control or bidi-override characters.
    text: "name",
  },
} as const satisfies Shape;

/** What BIND and UPDATE share (§4.2): absent TLVs change nothing. */
const deviceStateShape = {
  // MOBILE is the server's to advertise, never a client's to set (§4.2).
  status: { tlv: DeviceTlv.STATUS, kind: "u16", max: Status.INVISIBLE },
  statusMessage: text(DeviceTlv.STATUS_MESSAGE, MAX_STATUS_MESSAGE_BYTES, "multiline"),
  capabilities: {
    tlv: DeviceTlv.CAPABILITIES,
    kind: "u16list",
    min: 1,
    max: MAX_CAPABILITY,
    maxItems: MAX_CAPABILITIES,
  },
  isIdle: flag(DeviceTlv.IS_IDLE),
  isMobile: flag(DeviceTlv.IS_MOBILE),
  isStatusAutomatic: flag(DeviceTlv.IS_STATUS_AUTOMATIC),
} as const satisfies Shape;

export const bindShape = { ...clientShape, ...deviceNameShape, ...deviceStateShape } as const satisfies Shape;
export const updateShape = deviceStateShape;
export const unbindShape = deviceNameShape;

/** The client description to store: empty values are no value. */
export function clientOf(f: Fields<typeof clientShape>): ClientDescription {
  const out: ClientDescription = {};
  for (const key of Object.keys(clientShape) as Array<keyof ClientDescription>) {
    const v = f[key];
    if (v !== undefined && v !== "") out[key] = v;
  }
  return out;
}

/** The device state as a patch: absent TLVs are absent keys; an empty STATUS_MESSAGE clears it. */
export function patchOf(f: Fields<typeof deviceStateShape>): DevicePatch {
  const patch: DevicePatch = {};
  if (f.status !== undefined) patch.status = f.status;
  // An empty STATUS_MESSAGE clears it: the key is present with undefined (see DevicePatch).
  if (f.statusMessage !== undefined)
    patch.statusMessage = f.statusMessage === "" ? undefined : f.statusMessage;
  if (f.capabilities !== undefined) patch.capabilities = f.capabilities;
  if (f.isIdle !== undefined) patch.isIdle = f.isIdle;
  if (f.isMobile !== undefined) patch.isMobile = f.isMobile;
  if (f.isStatusAutomatic !== undefined) patch.isStatusAutomatic = f.isStatusAutomatic;
  return patch;
}
