// Every number of PROTOCOL.md as a named constant, plus number → name lookups for logs and tools.
// Values are `as const` objects rather than TS enums so they stay plain numbers at run time and
// can be iterated for the reverse maps.

export const START_BYTE = 0x6f;
/** Bytes before a TLV block: start byte, channel, flags, family, type, sequence, block size. */
export const TLV_HEADER_SIZE = 16;
/** A version message: start byte, channel, u16 version. */
export const VERSION_FRAME_SIZE = 4;
export const PROTOCOL_VERSION = 8;
export const DEFAULT_MAX_BLOCK = 256 * 1024;
/** TLV type bit meaning "the length that follows is u32". */
export const TLV_LONG_LENGTH = 0x8000;
/** Family and type numbers at or above this are extensions (the MSB is reserved). */
export const EXTENSION_RANGE_START = 0x4000;

export const Channel = { VERSION: 1, TLV: 2 } as const;
export type ChannelValue = (typeof Channel)[keyof typeof Channel];

export const Flags = { REQUEST: 0, RESPONSE: 0x1, INDICATION: 0x2, ERROR: 0x4, EXTENSION: 0x8 } as const;

export const Family = {
  STREAM: 1,
  DEVICE: 2,
  LISTS: 3,
  IM: 4,
  PRESENCE: 5,
  AVATAR: 6,
  GROUP_CHATS: 7,
} as const;
export type FamilyValue = (typeof Family)[keyof typeof Family];

// ---- message types --------------------------------------------------------------------------

export const StreamType = { FEATURES_SET: 1, AUTHENTICATE: 2, PING: 3 } as const;
export const DeviceType = { BIND: 1, UPDATE: 2, UNBIND: 3 } as const;
export const ListsType = {
  GET: 1,
  CONTACT_ADD: 2,
  CONTACT_REMOVE: 3,
  CONTACT_AUTH_REQUEST: 4,
  CONTACT_APPROVE: 5,
  CONTACT_APPROVED: 6,
  CONTACT_DENY: 7,
  ALLOW_ADD: 8,
  ALLOW_REMOVE: 9,
  BLOCK_ADD: 10,
  BLOCK_REMOVE: 11,
} as const;
export const ImType = { OFFLINE_MESSAGES_GET: 1, OFFLINE_MESSAGES_DELETE: 2, MESSAGE_SEND: 3 } as const;
export const PresenceType = { SET: 1, GET: 2, UPDATE: 3 } as const;
export const AvatarType = { SET: 1, GET: 2, UPLOAD: 3 } as const;
export const GroupChatsType = { SET: 1, GET: 2, MEMBER_ADD: 3, MEMBER_REMOVE: 4, MESSAGE_SEND: 5 } as const;

// ---- TLV types ------------------------------------------------------------------------------

/** TLV 0 of every family: the u16 error code that opens an error block. */
export const ERRORCODE_TLV = 0;

export const StreamTlv = {
  ERRORCODE: 0,
  FEATURES: 1,
  MECHANISM: 2,
  NAME: 3,
  TIMESTAMP: 4,
  PASSWORD: 5,
  /** One real client sends the password as 0x4001; accepted on input, never sent. */
  PASSWORD_ALT: 0x4001,
} as const;

export const DeviceTlv = {
  ERRORCODE: 0,
  CLIENT_NAME: 1,
  CLIENT_PLATFORM: 2,
  CLIENT_MODEL: 3,
  CLIENT_ARCH: 4,
  CLIENT_VERSION: 5,
  CLIENT_BUILD: 6,
  CLIENT_DESCRIPTION: 7,
  DEVICE_NAME: 8,
  IP_ADDRESS: 9,
  CONNECTED_AT: 10,
  STATUS: 11,
  STATUS_MESSAGE: 12,
  CAPABILITIES: 13,
  IS_IDLE: 14,
  IS_MOBILE: 15,
  IS_STATUS_AUTOMATIC: 16,
  SERVER: 17,
  DEVICE_TUPLE: 18,
  /** The other client numbering (SERVER 18 / DEVICE_TUPLE 19); accepted as DEVICE_TUPLE on input. */
  DEVICE_TUPLE_ALT: 19,
} as const;

export const ListsTlv = {
  ERRORCODE: 0,
  FROM: 1,
  TO: 2,
  CONTACT_ADDRESS: 3,
  PENDING_ADDRESS: 4,
  ALLOW_ADDRESS: 5,
  BLOCK_ADDRESS: 6,
  AVATAR_SHA1: 7,
  NICKNAME: 8,
} as const;

export const ImTlv = {
  ERRORCODE: 0,
  FROM: 1,
  TO: 2,
  CAPABILITY: 3,
  MESSAGE_ID: 4,
  MESSAGE_SIZE: 5,
  MESSAGE_CHUNK: 6,
  CREATED_AT: 7,
  TIMESTAMP: 8,
  OFFLINE_MESSAGE: 9,
} as const;

export const PresenceTlv = {
  ERRORCODE: 0,
  FROM: 1,
  TO: 2,
  STATUS: 3,
  STATUS_MESSAGE: 4,
  IS_STATUS_AUTOMATIC: 5,
  AVATAR_SHA1: 6,
  NICKNAME: 7,
  CAPABILITIES: 8,
} as const;

export const AvatarTlv = { ERRORCODE: 0, FROM: 1, TO: 2, AVATAR_SHA1: 3, DATA: 4 } as const;

export const GroupChatsTlv = {
  ERRORCODE: 0,
  FROM: 1,
  NAME: 2,
  MEMBER: 3,
  INITIAL: 4,
  MESSAGE: 5,
  TIMESTAMP: 6,
  GROUP_CHAT_TUPLE: 7,
} as const;

// ---- error codes ----------------------------------------------------------------------------

export const GlobalError = {
  SUCCESS: 0,
  SERVICE_UNAVAILABLE: 1,
  INVALID_CONNECTION: 2,
  INVALID_STATE: 3,
  INVALID_TLV_FAMILY: 4,
  INVALID_TLV_LENGTH: 5,
  INVALID_TLV_VALUE: 6,
} as const;
export type GlobalErrorCode = (typeof GlobalError)[keyof typeof GlobalError];

/** Codes with the MSB set are family-specific; below it they are global. */
export const FAMILY_ERROR_BIT = 0x8000;

export const StreamError = {
  FEATURE_INVALID: 0x8001,
  MECHANISM_INVALID: 0x8002,
  AUTHENTICATION_INVALID: 0x8003,
} as const;
export const DeviceError = {
  CLIENT_INVALID: 0x8001,
  DEVICE_COLLISION: 0x8002,
  TOO_MANY_DEVICES: 0x8003,
  DEVICE_BOUND_ELSEWHERE: 0x8004,
} as const;
export const ListsError = {
  LIST_LIMIT_EXCEEDED: 0x8001,
  ADDRESS_EXISTS: 0x8002,
  ADDRESS_DOES_NOT_EXIST: 0x8003,
  ADDRESS_CONFLICT: 0x8004,
  ADDRESS_INVALID: 0x8005,
} as const;
export const ImError = {
  USERNAME_BLOCKED: 0x8001,
  USERNAME_NOT_CONTACT: 0x8002,
  INVALID_CAPABILITY: 0x8003,
} as const;
/** PROTOCOL.md defines no PRESENCE-specific errors. */
export const PresenceError = {} as const;
export const AvatarError = { AVATAR_NOT_FOUND: 0x8001 } as const;
export const GroupChatsError = { MEMBER_NOT_CONTACT: 0x8001, MEMBER_ALREADY_EXISTS: 0x8002 } as const;

// ---- other values ---------------------------------------------------------------------------

export const Status = { OFFLINE: 0, ONLINE: 1, AWAY: 2, DND: 3, INVISIBLE: 4, MOBILE: 5 } as const;
export type StatusValue = (typeof Status)[keyof typeof Status];
export const Feature = { TLS: 0x1, COMPRESSION: 0x2 } as const;
export const Mechanism = { PASSWORD: 1 } as const;
export const Capability = { IM: 1, TYPING: 2 } as const;
/** MESSAGE_CHUNK values (u16) of a TYPING message. */
export const TypingState = { STOPPED: 0, TYPING: 2 } as const;

// ---- per-family tables and reverse lookups ----------------------------------------------------

type NumberMap = Readonly<Record<string, number>>;

export interface FamilySpec {
  readonly name: string;
  readonly value: number;
  readonly types: NumberMap;
  readonly tlvs: NumberMap;
  readonly errors: NumberMap;
  /** TLV types whose value is itself a TLV block (tuples). */
  readonly nestedTlvs: readonly number[];
}

export const FAMILIES: Readonly<Record<number, FamilySpec>> = {
  [Family.STREAM]: {
    name: "STREAM",
    value: Family.STREAM,
    types: StreamType,
    tlvs: StreamTlv,
    errors: StreamError,
    nestedTlvs: [],
  },
  [Family.DEVICE]: {
    name: "DEVICE",
    value: Family.DEVICE,
    types: DeviceType,
    tlvs: DeviceTlv,
    errors: DeviceError,
    nestedTlvs: [DeviceTlv.DEVICE_TUPLE, DeviceTlv.DEVICE_TUPLE_ALT],
  },
  [Family.LISTS]: {
    name: "LISTS",
    value: Family.LISTS,
    types: ListsType,
    tlvs: ListsTlv,
    errors: ListsError,
    nestedTlvs: [],
  },
  [Family.IM]: {
    name: "IM",
    value: Family.IM,
    types: ImType,
    tlvs: ImTlv,
    errors: ImError,
    nestedTlvs: [ImTlv.OFFLINE_MESSAGE],
  },
  [Family.PRESENCE]: {
    name: "PRESENCE",
    value: Family.PRESENCE,
    types: PresenceType,
    tlvs: PresenceTlv,
    errors: PresenceError,
    nestedTlvs: [],
  },
  [Family.AVATAR]: {
    name: "AVATAR",
    value: Family.AVATAR,
    types: AvatarType,
    tlvs: AvatarTlv,
    errors: AvatarError,
    nestedTlvs: [],
  },
  [Family.GROUP_CHATS]: {
    name: "GROUP_CHATS",
    value: Family.GROUP_CHATS,
    types: GroupChatsType,
    tlvs: GroupChatsTlv,
    errors: GroupChatsError,
    nestedTlvs: [GroupChatsTlv.GROUP_CHAT_TUPLE],
  },
};

function invert(map: NumberMap): ReadonlyMap<number, string> {
  const out = new Map<number, string>();
  // First name wins, so aliases declared later (…_ALT) never shadow the canonical name.
  for (const [name, value] of Object.entries(map)) if (!out.has(value)) out.set(value, name);
  return out;
}

function hex4(n: number): string {
  return "0x" + n.toString(16).padStart(4, "0");
}

const familyNames = invert(Family);
const statusNames = invert(Status);
const globalErrorNames = invert(GlobalError);
const typeNames = new Map<number, ReadonlyMap<number, string>>();
const tlvNames = new Map<number, ReadonlyMap<number, string>>();
const errorNames = new Map<number, ReadonlyMap<number, string>>();
for (const spec of Object.values(FAMILIES)) {
  typeNames.set(spec.value, invert(spec.types));
  tlvNames.set(spec.value, invert(spec.tlvs));
  errorNames.set(spec.value, invert(spec.errors));
}

/** "STREAM", or "0x4001" for a family this codec does not know. */
export function familyName(family: number): string {
  return familyNames.get(family) ?? hex4(family);
}

export function typeName(family: number, type: number): string {
  return typeNames.get(family)?.get(type) ?? hex4(type);
}

/** Per-family TLV name (IM's TLV 3 is CAPABILITY, DEVICE's 3 is CLIENT_MODEL); ignores the long-length bit. */
export function tlvName(family: number, tlvType: number): string {
  const t = tlvType & 0x7fff;
  return tlvNames.get(family)?.get(t) ?? (t === ERRORCODE_TLV ? "ERRORCODE" : hex4(t));
}

/** Global code names below 0x8000, family-specific ones above. */
export function errorName(family: number, code: number): string {
  if ((code & FAMILY_ERROR_BIT) === 0) return globalErrorNames.get(code) ?? hex4(code);
  return errorNames.get(family)?.get(code) ?? hex4(code);
}

export function statusName(status: number): string {
  return statusNames.get(status) ?? String(status);
}

/** Names of the set flag bits, "REQUEST" when none: e.g. "RESPONSE|EXTENSION". */
export function flagsName(flags: number): string {
  if (flags === 0) return "REQUEST";
  const parts: string[] = [];
  if (flags & Flags.RESPONSE) parts.push("RESPONSE");
  if (flags & Flags.INDICATION) parts.push("INDICATION");
  if (flags & Flags.ERROR) parts.push("ERROR");
  if (flags & Flags.EXTENSION) parts.push("EXTENSION");
  const unknown = flags & ~0xf;
  if (unknown) parts.push(hex4(unknown));
  return parts.join("|");
}

/** Whether `tlvType` of `family` holds a nested TLV block (DEVICE_TUPLE, OFFLINE_MESSAGE, GROUP_CHAT_TUPLE). */
export function isNestedTlv(family: number, tlvType: number): boolean {
  return FAMILIES[family]?.nestedTlvs.includes(tlvType & 0x7fff) ?? false;
}

// name → number, for the CLI and tests (case-insensitive; numbers in decimal or 0x-hex accepted).
function lookup(map: NumberMap | undefined, name: string): number | undefined {
  const n = parseNumber(name);
  if (n !== undefined) return n;
  const v = map?.[name.toUpperCase()];
  return v;
}

function parseNumber(s: string): number | undefined {
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^[0-9]+$/.test(s)) return Number.parseInt(s, 10);
  return undefined;
}

export function familyByName(name: string): number | undefined {
  return lookup(Family, name);
}
export function typeByName(family: number, name: string): number | undefined {
  return lookup(FAMILIES[family]?.types, name);
}
export function tlvByName(family: number, name: string): number | undefined {
  return lookup(FAMILIES[family]?.tlvs, name);
}
export function errorByName(family: number, name: string): number | undefined {
  return lookup(GlobalError, name) ?? lookup(FAMILIES[family]?.errors, name);
}
export function statusByName(name: string): number | undefined {
  return lookup(Status, name);
}

// ---- value kinds, for tools and generic validation ----------------------------------------------

/** How a TLV's value is encoded. "tuple" values are nested TLV blocks. */
export type TlvKind = "u8" | "u16" | "u32" | "u64" | "string" | "bytes" | "u16list" | "tuple";

const S = "string";
const TLV_KINDS: Readonly<Record<number, Readonly<Record<number, TlvKind>>>> = {
  [Family.STREAM]: { 0: "u16", 1: "u16", 2: "u16", 3: S, 4: "u64", 5: S, [StreamTlv.PASSWORD_ALT]: S },
  [Family.DEVICE]: {
    0: "u16",
    1: S,
    2: S,
    3: S,
    4: S,
    5: S,
    6: S,
    7: S,
    8: S,
    9: S,
    10: "u64",
    11: "u16",
    12: S,
    13: "u16list",
    14: "u8",
    15: "u8",
    16: "u8",
    17: S,
    18: "tuple",
    19: "tuple",
  },
  [Family.LISTS]: { 0: "u16", 1: S, 2: S, 3: S, 4: S, 5: S, 6: S, 7: "bytes", 8: S },
  // MESSAGE_CHUNK is text for CAPABILITY IM but a u16 for TYPING: "bytes", read per capability.
  [Family.IM]: {
    0: "u16",
    1: S,
    2: S,
    3: "u16",
    4: "bytes",
    5: "u32",
    6: "bytes",
    7: "u64",
    8: "u64",
    9: "tuple",
  },
  [Family.PRESENCE]: { 0: "u16", 1: S, 2: S, 3: "u16", 4: S, 5: "u8", 6: "bytes", 7: S, 8: "u16list" },
  [Family.AVATAR]: { 0: "u16", 1: S, 2: S, 3: "bytes", 4: "bytes" },
  [Family.GROUP_CHATS]: { 0: "u16", 1: S, 2: S, 3: S, 4: "u8", 5: S, 6: "u64", 7: "tuple" },
};

/** The value encoding of a TLV of a core family; undefined for unknown ones (ERRORCODE is u16 everywhere). */
export function tlvKind(family: number, tlvType: number): TlvKind | undefined {
  const t = tlvType & 0x7fff;
  return TLV_KINDS[family]?.[t] ?? (t === ERRORCODE_TLV ? "u16" : undefined);
}
