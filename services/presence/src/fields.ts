// Reading DEVICE request TLVs: every value is hostile, every limit is §6's or named here.
import { DeviceTlv, ProtocolError, Status, type TlvBlock } from "@impp/protocol";
import { fromProtocolError, invalidValue, isFailure, type RequestFailure } from "@impp/service-kit";
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

const CLIENT_FIELDS: ReadonlyArray<[keyof ClientDescription, number]> = [
  ["clientName", DeviceTlv.CLIENT_NAME],
  ["clientPlatform", DeviceTlv.CLIENT_PLATFORM],
  ["clientModel", DeviceTlv.CLIENT_MODEL],
  ["clientArch", DeviceTlv.CLIENT_ARCH],
  ["clientVersion", DeviceTlv.CLIENT_VERSION],
  ["clientBuild", DeviceTlv.CLIENT_BUILD],
  ["clientDescription", DeviceTlv.CLIENT_DESCRIPTION],
];

function text(
  block: TlvBlock,
  type: number,
  maxBytes: number,
  what: string,
): string | undefined | RequestFailure {
  const v = block.first(type);
  if (v === undefined) return undefined;
  if (v.length > maxBytes) return invalidValue(`${what} is over ${maxBytes} bytes`);
  const s = block.string(type);
  return s instanceof ProtocolError ? fromProtocolError(s) : s;
}

export function readClient(block: TlvBlock): ClientDescription | RequestFailure {
  const out: ClientDescription = {};
  for (const [key, type] of CLIENT_FIELDS) {
    const v = text(block, type, MAX_CLIENT_FIELD_BYTES, key);
    if (isFailure(v)) return v;
    if (v !== undefined && v !== "") out[key] = v;
  }
  return out;
}

/** The wished DEVICE_NAME: "" when absent (the session store then picks a default). */
export function readDeviceName(block: TlvBlock): string | RequestFailure {
  // 64 characters of up to 4 bytes each: anything longer cannot be a valid name.
  const v = text(block, DeviceTlv.DEVICE_NAME, MAX_DEVICE_NAME * 4, "DEVICE_NAME");
  if (isFailure(v)) return v;
  if (v === undefined) return "";
  if ([...v].length > MAX_DEVICE_NAME)
    return invalidValue(`DEVICE_NAME is over ${MAX_DEVICE_NAME} characters`);
  return v;
}

function flag(block: TlvBlock, type: number): boolean | undefined | RequestFailure {
  const v = block.u8(type);
  if (v instanceof ProtocolError) return fromProtocolError(v);
  // Any non-zero byte is true: clients differ in how they spell it, and no value is unsafe.
  return v === undefined ? undefined : v !== 0;
}

/** The fields BIND and UPDATE share (§4.2), as a patch: absent TLVs are absent keys. */
export function readDeviceState(block: TlvBlock): DevicePatch | RequestFailure {
  const patch: DevicePatch = {};
  const status = block.u16(DeviceTlv.STATUS);
  if (status instanceof ProtocolError) return fromProtocolError(status);
  if (status !== undefined) {
    // MOBILE is the server's to advertise, never a client's to set (§4.2).
    if (status > Status.INVISIBLE) return invalidValue(`STATUS ${status} is not a status a client may set`);
    patch.status = status;
  }
  const message = text(block, DeviceTlv.STATUS_MESSAGE, MAX_STATUS_MESSAGE_BYTES, "STATUS_MESSAGE");
  if (isFailure(message)) return message;
  // An empty STATUS_MESSAGE clears it: the key is present with undefined (see DevicePatch).
  if (message !== undefined) patch.statusMessage = message === "" ? undefined : message;
  const caps = block.u16list(DeviceTlv.CAPABILITIES);
  if (caps instanceof ProtocolError) return fromProtocolError(caps);
  if (caps !== undefined) {
    const unique = [...new Set(caps)];
    if (unique.length > MAX_CAPABILITIES) return invalidValue(`more than ${MAX_CAPABILITIES} capabilities`);
    for (const c of unique) {
      if (c < 1 || c > MAX_CAPABILITY) return invalidValue(`capability ${c} is not a valid value`);
    }
    patch.capabilities = unique;
  }
  for (const [key, type] of [
    ["isIdle", DeviceTlv.IS_IDLE],
    ["isMobile", DeviceTlv.IS_MOBILE],
    ["isStatusAutomatic", DeviceTlv.IS_STATUS_AUTOMATIC],
  ] as const) {
    const v = flag(block, type);
    if (isFailure(v)) return v;
    if (v !== undefined) patch[key] = v;
  }
  return patch;
}
