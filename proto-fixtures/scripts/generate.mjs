#!/usr/bin/env node
// Writes proto-fixtures/fixtures/*.json from the readable message list below.
//
// Deliberately self-contained: this file has its own few-line encoder and does NOT import
// @impp/protocol, so a codec bug cannot silently re-generate matching fixtures. The PROTOCOL.md §5
// and real-client examples are copied verbatim as hex, not generated.
//
// Run after editing: node proto-fixtures/scripts/generate.mjs
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";

const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures");

// ---- numbers, copied from PROTOCOL.md ---------------------------------------------------------

const FAMILY = { STREAM: 1, DEVICE: 2, LISTS: 3, IM: 4, PRESENCE: 5, AVATAR: 6, GROUP_CHATS: 7 };
const TYPES = {
  STREAM: { FEATURES_SET: 1, AUTHENTICATE: 2, PING: 3 },
  DEVICE: { BIND: 1, UPDATE: 2, UNBIND: 3 },
  LISTS: {
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
  },
  IM: { OFFLINE_MESSAGES_GET: 1, OFFLINE_MESSAGES_DELETE: 2, MESSAGE_SEND: 3 },
  PRESENCE: { SET: 1, GET: 2, UPDATE: 3 },
  AVATAR: { SET: 1, GET: 2, UPLOAD: 3 },
  GROUP_CHATS: { SET: 1, GET: 2, MEMBER_ADD: 3, MEMBER_REMOVE: 4, MESSAGE_SEND: 5 },
};
const TLVS = {
  STREAM: {
    ERRORCODE: 0,
    FEATURES: 1,
    MECHANISM: 2,
    NAME: 3,
    TIMESTAMP: 4,
    PASSWORD: 5,
    PASSWORD_ALT: 0x4001,
  },
  DEVICE: {
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
    DEVICE_TUPLE_ALT: 19,
  },
  LISTS: {
    ERRORCODE: 0,
    FROM: 1,
    TO: 2,
    CONTACT_ADDRESS: 3,
    PENDING_ADDRESS: 4,
    ALLOW_ADDRESS: 5,
    BLOCK_ADDRESS: 6,
    AVATAR_SHA1: 7,
    NICKNAME: 8,
  },
  IM: {
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
  },
  PRESENCE: {
    ERRORCODE: 0,
    FROM: 1,
    TO: 2,
    STATUS: 3,
    STATUS_MESSAGE: 4,
    IS_STATUS_AUTOMATIC: 5,
    AVATAR_SHA1: 6,
    NICKNAME: 7,
    CAPABILITIES: 8,
  },
  AVATAR: { ERRORCODE: 0, FROM: 1, TO: 2, AVATAR_SHA1: 3, DATA: 4 },
  GROUP_CHATS: {
    ERRORCODE: 0,
    FROM: 1,
    NAME: 2,
    MEMBER: 3,
    INITIAL: 4,
    MESSAGE: 5,
    TIMESTAMP: 6,
    GROUP_CHAT_TUPLE: 7,
  },
};
const GLOBAL_ERRORS = {
  SERVICE_UNAVAILABLE: 1,
  INVALID_CONNECTION: 2,
  INVALID_STATE: 3,
  INVALID_TLV_FAMILY: 4,
  INVALID_TLV_LENGTH: 5,
  INVALID_TLV_VALUE: 6,
};
const FAMILY_ERRORS = {
  STREAM: { FEATURE_INVALID: 0x8001, MECHANISM_INVALID: 0x8002, AUTHENTICATION_INVALID: 0x8003 },
  DEVICE: {
    CLIENT_INVALID: 0x8001,
    DEVICE_COLLISION: 0x8002,
    TOO_MANY_DEVICES: 0x8003,
    DEVICE_BOUND_ELSEWHERE: 0x8004,
  },
  LISTS: {
    LIST_LIMIT_EXCEEDED: 0x8001,
    ADDRESS_EXISTS: 0x8002,
    ADDRESS_DOES_NOT_EXIST: 0x8003,
    ADDRESS_CONFLICT: 0x8004,
    ADDRESS_INVALID: 0x8005,
  },
  IM: { USERNAME_BLOCKED: 0x8001, USERNAME_NOT_CONTACT: 0x8002, INVALID_CAPABILITY: 0x8003 },
  PRESENCE: {},
  AVATAR: { AVATAR_NOT_FOUND: 0x8001 },
  GROUP_CHATS: { MEMBER_NOT_CONTACT: 0x8001, MEMBER_ALREADY_EXISTS: 0x8002 },
};
const FLAGS = { request: 0, response: 1, indication: 2, error: 4 };
const STATUS = { OFFLINE: 0, ONLINE: 1, AWAY: 2, DND: 3, INVISIBLE: 4, MOBILE: 5 };
const NESTED = { DEVICE: [18, 19], IM: [9], GROUP_CHATS: [7] };

// ---- a minimal, independent encoder -----------------------------------------------------------

function u16(n) {
  return Buffer.from([n >> 8, n & 0xff]);
}
function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function u64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** A value spec → bytes. [kind, value]: str, u8, u16, u32, u64, hex, u16list, tuple (list of TLV specs). */
function value(family, spec) {
  const [kind, v] = spec;
  switch (kind) {
    case "str":
      return Buffer.from(v, "utf8");
    case "u8":
      return Buffer.from([v]);
    case "u16":
      return u16(v);
    case "u32":
      return u32(v);
    case "u64":
      return u64(v);
    case "hex":
      return Buffer.from(v, "hex");
    case "u16list":
      return Buffer.concat(v.map(u16));
    case "tuple":
      return block(family, v);
    default:
      throw new Error(`unknown value kind ${kind}`);
  }
}

/** TLV specs: [NAME, kind, value] or [NAME, kind, value, "wide"] for the u32 length form. */
function block(family, tlvs) {
  const parts = [];
  for (const [name, kind, v, form] of tlvs) {
    const type = TLVS[family][name];
    if (type === undefined) throw new Error(`no TLV ${name} in ${family}`);
    const val = value(family, [kind, v]);
    const wide = form === "wide" || val.length > 0xffff;
    parts.push(
      wide
        ? Buffer.concat([u16(type | 0x8000), u32(val.length)])
        : Buffer.concat([u16(type), u16(val.length)]),
    );
    parts.push(val);
  }
  return Buffer.concat(parts);
}

function tlvJson(family, raw, outer) {
  // Re-read what `block` wrote, to produce the expected decoded form.
  const out = [];
  let p = 0;
  while (p < raw.length) {
    const t = raw.readUInt16BE(p);
    const long = (t & 0x8000) !== 0;
    const len = long ? raw.readUInt32BE(p + 2) : raw.readUInt16BE(p + 2);
    const start = p + (long ? 6 : 4);
    const v = raw.subarray(start, start + len);
    const j = { type: t & 0x7fff, value: v.toString("hex") };
    if (long && len <= 0xffff) j.wide = true;
    if (outer && (NESTED[family] ?? []).includes(t & 0x7fff)) j.tlvs = tlvJson(family, v, false);
    out.push(j);
    p = start + len;
  }
  return out;
}

function header(flags, family, type, seq, size) {
  return Buffer.concat([Buffer.from([0x6f, 0x02]), u16(flags), u16(family), u16(type), u32(seq), u32(size)]);
}

// ---- fixture builders -------------------------------------------------------------------------

const fixtures = {};
function add(file, fx) {
  if (!fixtures[file]) fixtures[file] = [];
  if (Object.values(fixtures).some((list) => list.some((f) => f.name === fx.name))) {
    throw new Error(`duplicate fixture ${fx.name}`);
  }
  fixtures[file].push(fx);
}

/**
 * One TLV-channel message.
 * kind: request | response | indication | error; tlvs: TLV specs; opts: { seq, flags, compressed, source, extraFlags }
 */
function msg(family, typeName, kind, name, description, tlvs, opts = {}) {
  const fam = opts.familyNumber ?? FAMILY[family];
  const type = opts.typeNumber ?? TYPES[family]?.[typeName];
  const flags = opts.flags ?? FLAGS[kind];
  const seq = opts.seq ?? (kind === "indication" ? 0 : 1);
  const raw = block(family, tlvs);
  const wire = opts.compressed && raw.length > 0 ? deflateSync(raw) : raw;
  const bytes = Buffer.concat([header(flags, fam, type, seq, wire.length), wire]);
  const expected = {
    channel: "tlv",
    flags,
    family: fam,
    type,
    sequence: seq,
    tlvs: tlvJson(family, raw, true),
  };
  if (opts.compressed) expected.compressed = true;
  const fx = {
    name: `${family.toLowerCase()}/${name}`,
    family,
    message: typeName,
    kind,
    direction: kind === "request" ? "client-to-server" : "server-to-client",
    source: opts.source ?? "PROTOCOL.md §4 (constructed)",
    description,
    summary: summarize(tlvs),
    hex: bytes.toString("hex"),
    expected,
  };
  if (opts.compressed) fx.compressed = true;
  add(opts.file ?? family.toLowerCase(), fx);
}

/** A one-line readable rendering of the TLV specs, for people reading the JSON. */
function summarize(tlvs) {
  return tlvs
    .map(([name, kind, v]) => {
      if (kind === "str") return `${name}=${JSON.stringify(v)}`;
      if (kind === "tuple") return `${name}{${summarize(v)}}`;
      if (kind === "hex") return `${name}=0x${v}`;
      if (kind === "u16list") return `${name}=[${v.join(",")}]`;
      return `${name}=${v}`;
    })
    .join(" ");
}

/** An error message: flags 0x0004 (|0x0008), ERRORCODE first, then extra TLVs. */
function err(family, typeName, code, name, description, extra = [], opts = {}) {
  const codeNum = GLOBAL_ERRORS[code] ?? FAMILY_ERRORS[family]?.[code];
  if (codeNum === undefined) throw new Error(`no error ${code} for ${family}`);
  msg(
    family,
    typeName,
    "error",
    name,
    `${description} (ERRORCODE ${code})`,
    [["ERRORCODE", "u16", codeNum], ...extra],
    {
      seq: 1,
      ...opts,
    },
  );
}

function verbatim(file, fx) {
  add(file, fx);
}

// ---- PROTOCOL.md §5 and real-client bytes, verbatim ------------------------------------------

const EX = "examples";
verbatim(EX, {
  name: "examples/features-set-request",
  family: "STREAM",
  message: "FEATURES_SET",
  kind: "request",
  direction: "client-to-server",
  source: "PROTOCOL.md §5",
  description: "STREAM FEATURES_SET request, seq 1, FEATURES = TLS|COMPRESSION",
  hex: "6f0200000001000100000001000000060001000200 03".replace(/ /g, ""),
  expected: {
    channel: "tlv",
    flags: 0,
    family: 1,
    type: 1,
    sequence: 1,
    tlvs: [{ type: 1, value: "0003" }],
  },
});
verbatim(EX, {
  name: "examples/group-chats-get-request",
  family: "GROUP_CHATS",
  message: "GET",
  kind: "request",
  direction: "client-to-server",
  source: "PROTOCOL.md §5",
  description: "GROUP_CHATS GET request, seq 1, empty block",
  hex: "6f020000000700020000000100000000",
  expected: { channel: "tlv", flags: 0, family: 7, type: 2, sequence: 1, tlvs: [] },
});
verbatim(EX, {
  name: "examples/lists-type7-truncated",
  family: "LISTS",
  message: "CONTACT_DENY",
  kind: "request",
  direction: "client-to-server",
  source: "PROTOCOL.md §5",
  description:
    'A LISTS request (type 7) opening with TLV 1 = "zaphod", block size 0x14; cut off in the published text after the first TLV and the next TLV type',
  hex: "6f020000000300070000000100000014" + "00010006" + "7a617068 6f64".replace(/ /g, "") + "0002",
  truncated: true,
  header: { flags: 0, family: 3, type: 7, sequence: 1, blockSize: 0x14 },
  firstTlvs: [{ type: 1, value: "7a617068 6f64".replace(/ /g, "") }],
});
verbatim(EX, {
  name: "examples/group-chats-message-send-truncated",
  family: "GROUP_CHATS",
  message: "MESSAGE_SEND",
  kind: "request",
  direction: "client-to-server",
  source: "PROTOCOL.md §5",
  description:
    'A GROUP_CHATS MESSAGE_SEND request opening with TLV 1 = "zaphod", block size 0x82; cut off in the published text after the first TLV and the next TLV type',
  hex: "6f020000000700050000000100000082" + "00010006" + "7a617068 6f64".replace(/ /g, "") + "0002",
  truncated: true,
  header: { flags: 0, family: 7, type: 5, sequence: 1, blockSize: 0x82 },
  firstTlvs: [{ type: 1, value: "7a617068 6f64".replace(/ /g, "") }],
});
verbatim(EX, {
  name: "examples/version-request-14",
  family: "VERSION",
  message: "VERSION",
  kind: "version",
  direction: "client-to-server",
  source: "PROTOCOL.md §2.1, §5 [clients]",
  description: "Version request from a current Trillian client: version 14",
  hex: "6f01000e",
  expected: { channel: "version", version: 14 },
});
verbatim(EX, {
  name: "examples/features-set-request-random-seq",
  family: "STREAM",
  message: "FEATURES_SET",
  kind: "request",
  direction: "client-to-server",
  source: "PROTOCOL.md §5 [clients]",
  description:
    "FEATURES_SET from a real client with a random start sequence 0x80f72686, FEATURES = TLS|COMPRESSION",
  hex: "6f02000000010001 80f72686 00000006 0001 0002 0003".replace(/ /g, ""),
  expected: {
    channel: "tlv",
    flags: 0,
    family: 1,
    type: 1,
    sequence: 0x80f72686,
    tlvs: [{ type: 1, value: "0003" }],
  },
});
msg(
  "STREAM",
  "AUTHENTICATE",
  "request",
  "authenticate-request-tricia",
  'AUTHENTICATE from a real client: MECHANISM 1 (PASSWORD), NAME "tricia", PASSWORD "password", the sequence after its FEATURES_SET',
  [
    ["MECHANISM", "u16", 1],
    ["NAME", "str", "tricia"],
    ["PASSWORD", "str", "password"],
  ],
  { seq: 0x80f72687, source: "PROTOCOL.md §5 [clients]", file: EX },
);
fixtures[EX].at(-1).name = "examples/authenticate-request-tricia";

// ---- version channel --------------------------------------------------------------------------

function version(name, description, v, direction) {
  add("version", {
    name: `version/${name}`,
    family: "VERSION",
    message: "VERSION",
    kind: "version",
    direction,
    source: "PROTOCOL.md §2.1",
    description,
    hex: Buffer.concat([Buffer.from([0x6f, 0x01]), u16(v)]).toString("hex"),
    expected: { channel: "version", version: v },
  });
}
version(
  "reply-echo-14",
  "Server reply to a version-14 client: the client's version echoed",
  14,
  "server-to-client",
);
version("request-8", "Version request from a version-8 client", 8, "client-to-server");
version(
  "reply-8-to-old-client",
  "Server reply to a client below version 8 (then it closes)",
  8,
  "server-to-client",
);
version("request-7", "Version request below 8: refused", 7, "client-to-server");

// ---- STREAM -----------------------------------------------------------------------------------

const T0 = 1_764_100_000_000; // 2025-11-25T19:46:40Z, ms
const S = "STREAM";
msg(S, "FEATURES_SET", "request", "features-set-request-tls", "FEATURES_SET asking for TLS only", [
  ["FEATURES", "u16", 1],
]);
msg(
  S,
  "FEATURES_SET",
  "response",
  "features-set-response-tls-compression",
  "FEATURES_SET response: TLS and COMPRESSION on; exactly 22 bytes (a client reads as many as it sent)",
  [["FEATURES", "u16", 3]],
);
msg(
  S,
  "FEATURES_SET",
  "response",
  "features-set-response-tls-only",
  "FEATURES_SET response when compression is disabled by configuration: TLS only",
  [["FEATURES", "u16", 1]],
);
err(
  S,
  "FEATURES_SET",
  "FEATURE_INVALID",
  "features-set-error-feature-invalid",
  "Unknown feature bit or no TLS on the plain port",
);
err(S, "FEATURES_SET", "INVALID_STATE", "features-set-error-second", "A second FEATURES_SET");
msg(
  S,
  "AUTHENTICATE",
  "request",
  "authenticate-request-password-alt",
  "AUTHENTICATE with the password in TLV 0x4001, as the other client sends it",
  [
    ["MECHANISM", "u16", 1],
    ["NAME", "str", "tricia"],
    ["PASSWORD_ALT", "str", "password"],
  ],
  { seq: 2 },
);
msg(
  S,
  "AUTHENTICATE",
  "response",
  "authenticate-response",
  "AUTHENTICATE response: canonical NAME and the server clock",
  [
    ["NAME", "str", "tricia"],
    ["TIMESTAMP", "u64", T0],
  ],
  { seq: 2 },
);
err(S, "AUTHENTICATE", "AUTHENTICATION_INVALID", "authenticate-error-invalid", "Wrong name or password", [], {
  seq: 2,
});
err(S, "AUTHENTICATE", "MECHANISM_INVALID", "authenticate-error-mechanism", "Unknown MECHANISM", [], {
  seq: 2,
});
err(
  S,
  "AUTHENTICATE",
  "INVALID_STATE",
  "authenticate-error-before-tls",
  "AUTHENTICATE before TLS is up",
  [],
  {
    seq: 2,
  },
);
msg(S, "PING", "request", "ping-request", "PING: empty request", [], { seq: 9 });
msg(
  S,
  "PING",
  "response",
  "ping-response",
  "PING response: the server clock",
  [["TIMESTAMP", "u64", T0 + 120_000]],
  {
    seq: 9,
  },
);
err(
  S,
  "PING",
  "INVALID_CONNECTION",
  "framing-error-invalid-connection",
  "Framing error before a header could be read: family STREAM, type 0, sequence 0; then the server closes",
  [],
  { seq: 0, typeNumber: 0 },
);
err(S, "PING", "SERVICE_UNAVAILABLE", "error-service-unavailable", "A backend did not answer in time", [], {
  seq: 9,
});
// An extension family the server does not implement: flags 0x000C.
msg(
  S,
  "EXTENSION",
  "request",
  "extension-family-request",
  'A request in an extension family (0x4001) with the extension bit, as real clients send after binding (illustrative TLV: 1 = "trillian:identities")',
  [["FEATURES", "str", "trillian:identities"]],
  { familyNumber: 0x4001, typeNumber: 1, flags: 0x0008, seq: 20 },
);
Object.assign(fixtures.stream.at(-1), {
  family: "EXTENSION",
  message: "0x0001",
  name: "stream/extension-family-request",
});
{
  const raw = block(S, [["ERRORCODE", "u16", 4]]);
  add("stream", {
    name: "stream/extension-family-error",
    family: "EXTENSION",
    message: "0x0001",
    kind: "error",
    direction: "server-to-client",
    source: "PROTOCOL.md §2.2",
    description: "Error for an unimplemented extension family: flags 0x000C, ERRORCODE INVALID_TLV_FAMILY",
    hex: Buffer.concat([header(0x000c, 0x4001, 1, 20, raw.length), raw]).toString("hex"),
    expected: {
      channel: "tlv",
      flags: 12,
      family: 0x4001,
      type: 1,
      sequence: 20,
      tlvs: tlvJson(S, raw, true),
    },
  });
}
err("LISTS", "GET", "INVALID_STATE", "get-error-before-tls", "LISTS GET before TLS/auth/bind", [], {
  seq: 3,
});
err(
  "LISTS",
  "CONTACT_ADD",
  "INVALID_TLV_LENGTH",
  "contact-add-error-tlv-length",
  "A TLV overrunning its block",
  [],
  {
    seq: 3,
  },
);
{
  const raw = block(S, [["ERRORCODE", "u16", 4]]);
  add("stream", {
    name: "stream/unknown-family-error",
    family: "0x0009",
    message: "0x0001",
    kind: "error",
    direction: "server-to-client",
    source: "PROTOCOL.md §2.5",
    description: "Error for an unknown core family 9: ERRORCODE INVALID_TLV_FAMILY, session goes on",
    hex: Buffer.concat([header(0x0004, 9, 1, 21, raw.length), raw]).toString("hex"),
    expected: { channel: "tlv", flags: 4, family: 9, type: 1, sequence: 21, tlvs: tlvJson(S, raw, true) },
  });
}

// ---- DEVICE -----------------------------------------------------------------------------------

const D = "DEVICE";
const deviceTuple = (name, extra = []) => [
  ["DEVICE_NAME", "str", name],
  ["CLIENT_NAME", "str", "Trillian"],
  ["CLIENT_PLATFORM", "str", "Windows"],
  ["CLIENT_MODEL", "str", "PC"],
  ["CLIENT_ARCH", "str", "x86_64"],
  ["CLIENT_VERSION", "str", "6.5"],
  ["CLIENT_BUILD", "str", "17"],
  ["CLIENT_DESCRIPTION", "str", "Trillian for Windows"],
  ["IP_ADDRESS", "str", "203.0.113.7"],
  ["CONNECTED_AT", "u64", T0],
  ["STATUS", "u16", STATUS.ONLINE],
  ["STATUS_MESSAGE", "str", "hoopy"],
  ["CAPABILITIES", "u16list", [1, 2]],
  ["IS_IDLE", "u8", 0],
  ["IS_MOBILE", "u8", 0],
  ["IS_STATUS_AUTOMATIC", "u8", 0],
  ["SERVER", "str", "edge-1.example.net:3158"],
  ...extra,
];
msg(
  D,
  "BIND",
  "request",
  "bind-request",
  "BIND with the client description, the wished DEVICE_NAME, status and capabilities",
  [
    ["CLIENT_NAME", "str", "Trillian"],
    ["CLIENT_PLATFORM", "str", "Windows"],
    ["CLIENT_MODEL", "str", "PC"],
    ["CLIENT_ARCH", "str", "x86_64"],
    ["CLIENT_VERSION", "str", "6.5"],
    ["CLIENT_BUILD", "str", "17"],
    ["CLIENT_DESCRIPTION", "str", "Trillian for Windows"],
    ["DEVICE_NAME", "str", "heart-of-gold"],
    ["STATUS", "u16", STATUS.ONLINE],
    ["STATUS_MESSAGE", "str", "hoopy"],
    ["CAPABILITIES", "u16list", [1, 2]],
    ["IS_IDLE", "u8", 0],
    ["IS_MOBILE", "u8", 0],
    ["IS_STATUS_AUTOMATIC", "u8", 0],
  ],
  { seq: 3 },
);
msg(
  D,
  "BIND",
  "response",
  "bind-response",
  "BIND response: unique DEVICE_NAME (suffixed after a collision), IP_ADDRESS, CONNECTED_AT, SERVER, one DEVICE_TUPLE per bound device",
  [
    ["DEVICE_NAME", "str", "heart-of-gold-2"],
    ["IP_ADDRESS", "str", "203.0.113.7"],
    ["CONNECTED_AT", "u64", T0],
    ["SERVER", "str", "edge-1.example.net:3158"],
    ["DEVICE_TUPLE", "tuple", deviceTuple("heart-of-gold")],
    ["DEVICE_TUPLE", "tuple", deviceTuple("heart-of-gold-2")],
  ],
  { seq: 3 },
);
err(D, "BIND", "TOO_MANY_DEVICES", "bind-error-too-many-devices", "Per-user device limit reached", [], {
  seq: 3,
});
err(
  D,
  "BIND",
  "CLIENT_INVALID",
  "bind-error-client-invalid",
  "A banned client, with the version to upgrade to",
  [
    ["CLIENT_VERSION", "str", "6.6"],
    ["CLIENT_BUILD", "str", "21"],
  ],
  { seq: 3 },
);
err(
  D,
  "BIND",
  "DEVICE_BOUND_ELSEWHERE",
  "bind-error-bound-elsewhere",
  "The edge is draining: reconnect to SERVER",
  [["SERVER", "str", "edge-2.example.net:3158"]],
  { seq: 3 },
);
err(D, "BIND", "DEVICE_COLLISION", "bind-error-device-collision", "Device name collision", [], { seq: 3 });
err(D, "BIND", "INVALID_STATE", "bind-error-before-auth", "BIND before AUTHENTICATE", [], { seq: 3 });
msg(
  D,
  "UPDATE",
  "request",
  "update-request",
  "UPDATE of this device: away, idle, with a status message",
  [
    ["STATUS", "u16", STATUS.AWAY],
    ["STATUS_MESSAGE", "str", "at the restaurant at the end of the universe"],
    ["IS_IDLE", "u8", 1],
    ["IS_STATUS_AUTOMATIC", "u8", 1],
  ],
  { seq: 4 },
);
msg(D, "UPDATE", "response", "update-response", "UPDATE response: empty", [], { seq: 4 });
msg(
  D,
  "UPDATE",
  "indication",
  "update-indication",
  "UPDATE indication to the user's other devices: the DEVICE_TUPLE",
  [["DEVICE_TUPLE", "tuple", deviceTuple("heart-of-gold-2")]],
);
msg(
  D,
  "UPDATE",
  "indication",
  "update-indication-tuple-alt",
  "UPDATE indication in the other client numbering: DEVICE_TUPLE as TLV 19 (accepted on input as DEVICE_TUPLE)",
  [["DEVICE_TUPLE_ALT", "tuple", [["DEVICE_NAME", "str", "towel"]]]],
);
err(D, "UPDATE", "INVALID_TLV_VALUE", "update-error-bad-status", "UPDATE with an unknown STATUS value", [], {
  seq: 4,
});
msg(D, "UNBIND", "request", "unbind-request-self", "UNBIND without DEVICE_NAME: this device", [], { seq: 5 });
msg(
  D,
  "UNBIND",
  "request",
  "unbind-request-other",
  "UNBIND of another device of the user",
  [["DEVICE_NAME", "str", "heart-of-gold"]],
  {
    seq: 5,
  },
);
msg(D, "UNBIND", "response", "unbind-response", "UNBIND response", [], { seq: 5 });
msg(
  D,
  "UNBIND",
  "indication",
  "unbind-indication",
  "UNBIND indication: the DEVICE_NAME of the device that went",
  [["DEVICE_NAME", "str", "heart-of-gold"]],
);
err(D, "UNBIND", "INVALID_TLV_VALUE", "unbind-error-unknown-device", "UNBIND of an unknown device", [], {
  seq: 5,
});

// ---- LISTS ------------------------------------------------------------------------------------

const L = "LISTS";
msg(L, "GET", "request", "get-request", "GET: empty request", [], { seq: 6 });
msg(
  L,
  "GET",
  "response",
  "get-response",
  "GET response: one TLV per entry (contacts, pending, allow, block)",
  [
    ["CONTACT_ADDRESS", "str", "arthur"],
    ["CONTACT_ADDRESS", "str", "ford.prefect"],
    ["PENDING_ADDRESS", "str", "marvin"],
    ["ALLOW_ADDRESS", "str", "trillian"],
    ["BLOCK_ADDRESS", "str", "vogon_jeltz"],
  ],
  { seq: 6 },
);
msg(L, "GET", "response", "get-response-empty", "GET response for empty lists", [], { seq: 6 });

// Each list operation: request with the list TLV, response echoing it, indication (FROM + list TLV).
const listOps = [
  ["CONTACT_ADD", "CONTACT_ADDRESS", "contact-add"],
  ["CONTACT_REMOVE", "CONTACT_ADDRESS", "contact-remove"],
  ["CONTACT_AUTH_REQUEST", "CONTACT_ADDRESS", "contact-auth-request"],
  ["CONTACT_APPROVE", "CONTACT_ADDRESS", "contact-approve"],
  ["CONTACT_DENY", "CONTACT_ADDRESS", "contact-deny"],
  ["ALLOW_ADD", "ALLOW_ADDRESS", "allow-add"],
  ["ALLOW_REMOVE", "ALLOW_ADDRESS", "allow-remove"],
  ["BLOCK_ADD", "BLOCK_ADDRESS", "block-add"],
  ["BLOCK_REMOVE", "BLOCK_ADDRESS", "block-remove"],
];
let listSeq = 100;
for (const [type, tlv, slug] of listOps) {
  const seq = listSeq++;
  msg(
    L,
    type,
    "request",
    `${slug}-request`,
    `${type} request naming the address in ${tlv}`,
    [[tlv, "str", "arthur"]],
    {
      seq,
    },
  );
  msg(L, type, "response", `${slug}-response`, `${type} response echoing ${tlv}`, [[tlv, "str", "arthur"]], {
    seq,
  });
  msg(
    L,
    type,
    "indication",
    `${slug}-indication`,
    `${type} indication to my other devices: FROM (who acted) and ${tlv}`,
    [
      ["FROM", "str", "tricia"],
      [tlv, "str", "arthur"],
    ],
  );
}
msg(
  L,
  "CONTACT_ADD",
  "request",
  "contact-add-request-nickname",
  "CONTACT_ADD with a NICKNAME",
  [
    ["CONTACT_ADDRESS", "str", "arthur"],
    ["NICKNAME", "str", "Arthur Dent"],
  ],
  { seq: 110 },
);
msg(
  L,
  "CONTACT_ADD",
  "request",
  "contact-add-request-from-to",
  "CONTACT_ADD in the FROM/TO form of the published examples (FROM ignored, TO is the target)",
  [
    ["FROM", "str", "zaphod"],
    ["TO", "str", "arthur"],
  ],
  { seq: 111 },
);
msg(
  L,
  "CONTACT_AUTH_REQUEST",
  "indication",
  "contact-auth-request-indication-to-target",
  "CONTACT_AUTH_REQUEST indication to the added user's devices: FROM, NICKNAME, AVATAR_SHA1",
  [
    ["FROM", "str", "tricia"],
    ["NICKNAME", "str", "Trillian"],
    ["AVATAR_SHA1", "hex", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"],
  ],
);
msg(
  L,
  "CONTACT_APPROVED",
  "indication",
  "contact-approved-indication",
  "CONTACT_APPROVED to the approved user: FROM = the approver",
  [["FROM", "str", "tricia"]],
);
err(L, "CONTACT_ADD", "ADDRESS_EXISTS", "contact-add-error-exists", "Already a contact", [], { seq: 100 });
err(L, "CONTACT_ADD", "ADDRESS_INVALID", "contact-add-error-invalid", "Malformed or unknown address", [], {
  seq: 100,
});
err(
  L,
  "CONTACT_ADD",
  "ADDRESS_CONFLICT",
  "contact-add-error-conflict",
  "Address on my block list, or me",
  [],
  {
    seq: 100,
  },
);
err(L, "CONTACT_ADD", "LIST_LIMIT_EXCEEDED", "contact-add-error-limit", "1000 entries already", [], {
  seq: 100,
});
err(L, "CONTACT_REMOVE", "ADDRESS_DOES_NOT_EXIST", "contact-remove-error-missing", "Not in my contacts", [], {
  seq: 101,
});
err(
  L,
  "CONTACT_AUTH_REQUEST",
  "ADDRESS_DOES_NOT_EXIST",
  "contact-auth-request-error-missing",
  "Not in my contacts",
  [],
  {
    seq: 102,
  },
);
err(L, "CONTACT_APPROVE", "ADDRESS_DOES_NOT_EXIST", "contact-approve-error-missing", "Not pending", [], {
  seq: 103,
});
err(L, "CONTACT_DENY", "ADDRESS_DOES_NOT_EXIST", "contact-deny-error-missing", "Not pending", [], {
  seq: 104,
});
err(L, "ALLOW_ADD", "ADDRESS_EXISTS", "allow-add-error-exists", "Already allowed", [], { seq: 105 });
err(L, "ALLOW_REMOVE", "ADDRESS_DOES_NOT_EXIST", "allow-remove-error-missing", "Not on the allow list", [], {
  seq: 106,
});
err(L, "BLOCK_ADD", "ADDRESS_EXISTS", "block-add-error-exists", "Already blocked", [], { seq: 107 });
err(L, "BLOCK_REMOVE", "ADDRESS_DOES_NOT_EXIST", "block-remove-error-missing", "Not blocked", [], {
  seq: 108,
});

// ---- IM ---------------------------------------------------------------------------------------

const I = "IM";
const imText = [
  ["TO", "str", "arthur"],
  ["CAPABILITY", "u16", 1],
  ["MESSAGE_ID", "hex", "0a0b0c0d"],
  ["MESSAGE_SIZE", "u32", 12],
  ["MESSAGE_CHUNK", "str", "Don't panic!"],
  ["CREATED_AT", "u64", T0 + 5000],
];
msg(
  I,
  "MESSAGE_SEND",
  "request",
  "message-send-request",
  "MESSAGE_SEND: a text message in one chunk",
  imText,
  {
    seq: 200,
  },
);
msg(
  I,
  "MESSAGE_SEND",
  "request",
  "message-send-request-with-from",
  "MESSAGE_SEND with a FROM (ignored by the server)",
  [["FROM", "str", "tricia"], ...imText],
  { seq: 201 },
);
msg(
  I,
  "MESSAGE_SEND",
  "request",
  "message-send-request-typing",
  "MESSAGE_SEND with CAPABILITY TYPING: MESSAGE_CHUNK is a u16 (2 = typing)",
  [
    ["TO", "str", "arthur"],
    ["CAPABILITY", "u16", 2],
    ["MESSAGE_ID", "hex", "0a0b0c0e"],
    ["MESSAGE_SIZE", "u32", 2],
    ["MESSAGE_CHUNK", "u16", 2],
    ["CREATED_AT", "u64", T0 + 4000],
  ],
  { seq: 202 },
);
msg(
  I,
  "MESSAGE_SEND",
  "request",
  "message-send-request-chunk-1-of-2",
  "First of two chunks with the same MESSAGE_ID; MESSAGE_SIZE is the total size",
  [
    ["TO", "str", "arthur"],
    ["CAPABILITY", "u16", 1],
    ["MESSAGE_ID", "hex", "0a0b0c0f"],
    ["MESSAGE_SIZE", "u32", 24],
    ["MESSAGE_CHUNK", "str", "Time is an illusion. "],
    ["CREATED_AT", "u64", T0 + 6000],
  ],
  { seq: 203 },
);
msg(
  I,
  "MESSAGE_SEND",
  "indication",
  "message-send-indication",
  "MESSAGE_SEND delivery: FROM set by the server, TIMESTAMP = server receipt time",
  [["FROM", "str", "tricia"], ...imText, ["TIMESTAMP", "u64", T0 + 5100]],
);
msg(
  I,
  "MESSAGE_SEND",
  "indication",
  "message-send-indication-compressed",
  "The same delivery on a compressed session: the block is a zlib stream, the header plain",
  [["FROM", "str", "tricia"], ...imText, ["TIMESTAMP", "u64", T0 + 5100]],
  { compressed: true, source: "PROTOCOL.md §2.6 (constructed)" },
);
msg(
  I,
  "OFFLINE_MESSAGES_GET",
  "request",
  "offline-messages-get-request-compressed-empty",
  "An empty request on a compressed session: block size 0, no zlib stream",
  [],
  { compressed: true, seq: 210, source: "PROTOCOL.md §2.6, §6 (constructed)" },
);
msg(
  I,
  "MESSAGE_SEND",
  "response",
  "message-send-response",
  "MESSAGE_SEND response: MESSAGE_ID echoed, TIMESTAMP",
  [
    ["MESSAGE_ID", "hex", "0a0b0c0d"],
    ["TIMESTAMP", "u64", T0 + 5100],
  ],
  { seq: 200 },
);
err(I, "MESSAGE_SEND", "USERNAME_BLOCKED", "message-send-error-blocked", "Either side blocks the other", [], {
  seq: 200,
});
err(
  I,
  "MESSAGE_SEND",
  "USERNAME_NOT_CONTACT",
  "message-send-error-not-contact",
  "Recipient not in my contacts",
  [],
  {
    seq: 200,
  },
);
err(I, "MESSAGE_SEND", "INVALID_CAPABILITY", "message-send-error-capability", "Capability not declared", [], {
  seq: 200,
});
msg(
  I,
  "OFFLINE_MESSAGES_GET",
  "request",
  "offline-messages-get-request",
  "OFFLINE_MESSAGES_GET: empty request",
  [],
  {
    seq: 204,
  },
);
const offline = (id, text, ts) => [
  ["FROM", "str", "arthur"],
  ["TO", "str", "tricia"],
  ["CAPABILITY", "u16", 1],
  ["MESSAGE_ID", "hex", id],
  ["MESSAGE_SIZE", "u32", Buffer.byteLength(text)],
  ["MESSAGE_CHUNK", "str", text],
  ["CREATED_AT", "u64", ts - 100],
  ["TIMESTAMP", "u64", ts],
];
msg(
  I,
  "OFFLINE_MESSAGES_GET",
  "response",
  "offline-messages-get-response",
  "OFFLINE_MESSAGES_GET response: one OFFLINE_MESSAGE tuple per message, oldest first, then the newest TIMESTAMP",
  [
    ["OFFLINE_MESSAGE", "tuple", offline("00000001", "Where's my towel?", T0 + 1000)],
    ["OFFLINE_MESSAGE", "tuple", offline("00000002", "Forty-two. ✓", T0 + 2000)],
    ["TIMESTAMP", "u64", T0 + 2000],
  ],
  { seq: 204 },
);
msg(I, "OFFLINE_MESSAGES_GET", "response", "offline-messages-get-response-empty", "No stored messages", [], {
  seq: 204,
});
msg(
  I,
  "OFFLINE_MESSAGES_DELETE",
  "request",
  "offline-messages-delete-request",
  "OFFLINE_MESSAGES_DELETE up to the TIMESTAMP the GET returned",
  [["TIMESTAMP", "u64", T0 + 2000]],
  { seq: 205 },
);
msg(
  I,
  "OFFLINE_MESSAGES_DELETE",
  "response",
  "offline-messages-delete-response",
  "OFFLINE_MESSAGES_DELETE response",
  [],
  {
    seq: 205,
  },
);
err(
  I,
  "OFFLINE_MESSAGES_DELETE",
  "INVALID_TLV_VALUE",
  "offline-messages-delete-error-missing",
  "Missing TIMESTAMP",
  [],
  {
    seq: 205,
  },
);

// ---- PRESENCE ---------------------------------------------------------------------------------

const P = "PRESENCE";
msg(
  P,
  "SET",
  "request",
  "set-request",
  "SET: status, message, nickname, capabilities",
  [
    ["STATUS", "u16", STATUS.DND],
    ["STATUS_MESSAGE", "str", "thinking"],
    ["IS_STATUS_AUTOMATIC", "u8", 0],
    ["NICKNAME", "str", "Trillian"],
    ["AVATAR_SHA1", "hex", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"],
    ["CAPABILITIES", "u16list", [1, 2]],
  ],
  { seq: 300 },
);
msg(P, "SET", "response", "set-response", "SET response", [], { seq: 300 });
err(P, "SET", "INVALID_TLV_VALUE", "set-error-bad-status", "SET with an unknown STATUS", [], { seq: 300 });
err(P, "SET", "INVALID_TLV_LENGTH", "set-error-bad-length", "STATUS not 2 bytes long", [], { seq: 300 });
msg(
  P,
  "GET",
  "request",
  "get-request-all",
  "GET without TO: all contacts' presence follows as UPDATE indications",
  [],
  {
    seq: 301,
  },
);
msg(P, "GET", "response", "get-response-all", "GET (all) response: empty", [], { seq: 301 });
msg(P, "GET", "request", "get-request-one", "GET with TO", [["TO", "str", "arthur"]], { seq: 302 });
msg(
  P,
  "GET",
  "response",
  "get-response-one",
  "GET (one) response: their presence, FROM = them",
  [
    ["FROM", "str", "arthur"],
    ["STATUS", "u16", STATUS.MOBILE],
    ["STATUS_MESSAGE", "str", "on the Heart of Gold"],
    ["IS_STATUS_AUTOMATIC", "u8", 1],
    ["NICKNAME", "str", "Arthur Dent"],
    ["CAPABILITIES", "u16list", [1]],
  ],
  { seq: 302 },
);
msg(
  P,
  "GET",
  "response",
  "get-response-not-allowed",
  "GET (one) response for a user I may not see: STATUS OFFLINE",
  [
    ["FROM", "str", "zaphod"],
    ["STATUS", "u16", STATUS.OFFLINE],
  ],
  { seq: 303 },
);
msg(
  P,
  "UPDATE",
  "indication",
  "update-indication",
  "UPDATE indication: a watched user's advertised presence",
  [
    ["FROM", "str", "arthur"],
    ["STATUS", "u16", STATUS.AWAY],
    ["STATUS_MESSAGE", "str", "tea"],
    ["IS_STATUS_AUTOMATIC", "u8", 1],
    ["AVATAR_SHA1", "hex", "de9f2c7fd25e1b3afad3e85a0bd17d9b100db4b3"],
    ["NICKNAME", "str", "Arthur Dent"],
    ["CAPABILITIES", "u16list", [1, 2]],
  ],
);
msg(P, "UPDATE", "indication", "update-indication-offline", "UPDATE indication: went offline", [
  ["FROM", "str", "arthur"],
  ["STATUS", "u16", STATUS.OFFLINE],
]);

// ---- AVATAR -----------------------------------------------------------------------------------

const A = "AVATAR";
// The 1x1 transparent GIF: the smallest image with real magic bytes.
const gif = Buffer.from(
  "47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b",
  "hex",
);
const gifSha1 = createHash("sha1").update(gif).digest("hex");
msg(A, "UPLOAD", "request", "upload-request", "UPLOAD: a 1x1 GIF", [["DATA", "hex", gif.toString("hex")]], {
  seq: 400,
});
msg(
  A,
  "UPLOAD",
  "response",
  "upload-response",
  "UPLOAD response: the SHA-1 the server computed",
  [["AVATAR_SHA1", "hex", gifSha1]],
  {
    seq: 400,
  },
);
err(A, "UPLOAD", "INVALID_TLV_VALUE", "upload-error-not-image", "DATA is not PNG, JPEG or GIF", [], {
  seq: 400,
});
msg(A, "SET", "request", "set-request", "SET: use the uploaded avatar", [["AVATAR_SHA1", "hex", gifSha1]], {
  seq: 401,
});
msg(
  A,
  "SET",
  "request",
  "set-request-clear",
  "SET with an empty AVATAR_SHA1: clear",
  [["AVATAR_SHA1", "hex", ""]],
  {
    seq: 402,
  },
);
msg(A, "SET", "response", "set-response", "SET response", [], { seq: 401 });
err(A, "SET", "AVATAR_NOT_FOUND", "set-error-not-found", "SET of a hash never uploaded", [], { seq: 401 });
msg(A, "GET", "request", "get-request", "GET by hash", [["AVATAR_SHA1", "hex", gifSha1]], { seq: 403 });
msg(
  A,
  "GET",
  "request",
  "get-request-from-to",
  "GET with FROM/TO, as one client sends it",
  [
    ["FROM", "str", "tricia"],
    ["TO", "str", "arthur"],
    ["AVATAR_SHA1", "hex", gifSha1],
  ],
  { seq: 404 },
);
msg(
  A,
  "GET",
  "response",
  "get-response",
  "GET response: AVATAR_SHA1 and DATA",
  [
    ["AVATAR_SHA1", "hex", gifSha1],
    ["DATA", "hex", gif.toString("hex")],
  ],
  { seq: 403 },
);
err(A, "GET", "AVATAR_NOT_FOUND", "get-error-not-found", "Unknown hash", [], { seq: 403 });

// ---- GROUP_CHATS ------------------------------------------------------------------------------

const G = "GROUP_CHATS";
const groupTuple = (name, members, ts) => [
  ["NAME", "str", name],
  ...members.map((m) => ["MEMBER", "str", m]),
  ["TIMESTAMP", "u64", ts],
];
msg(
  G,
  "SET",
  "request",
  "set-request",
  "SET: create a group with two more members",
  [
    ["NAME", "str", "heart-of-gold-crew"],
    ["MEMBER", "str", "zaphod"],
    ["MEMBER", "str", "arthur"],
  ],
  { seq: 500 },
);
msg(
  G,
  "SET",
  "response",
  "set-response",
  "SET response: the GROUP_CHAT_TUPLE",
  [
    [
      "GROUP_CHAT_TUPLE",
      "tuple",
      groupTuple("heart-of-gold-crew", ["tricia", "zaphod", "arthur"], T0 + 9000),
    ],
  ],
  { seq: 500 },
);
err(G, "SET", "INVALID_TLV_VALUE", "set-error-name-taken", "NAME taken by another group", [], { seq: 500 });
err(
  G,
  "SET",
  "MEMBER_NOT_CONTACT",
  "set-error-member-not-contact",
  "An initial MEMBER is not my contact",
  [],
  {
    seq: 500,
  },
);
msg(
  G,
  "GET",
  "request",
  "get-request-since",
  "GET with TIMESTAMP: replay newer group messages",
  [["TIMESTAMP", "u64", T0]],
  {
    seq: 501,
  },
);
msg(
  G,
  "GET",
  "response",
  "get-response",
  "GET response: one GROUP_CHAT_TUPLE per group",
  [
    [
      "GROUP_CHAT_TUPLE",
      "tuple",
      groupTuple("heart-of-gold-crew", ["tricia", "zaphod", "arthur"], T0 + 9000),
    ],
    ["GROUP_CHAT_TUPLE", "tuple", groupTuple("magrathea", ["tricia", "slartibartfast"], T0 + 9500)],
  ],
  { seq: 501 },
);
msg(G, "GET", "response", "get-response-empty", "GET response: no groups", [], { seq: 1 });
msg(
  G,
  "MEMBER_ADD",
  "request",
  "member-add-request",
  "MEMBER_ADD",
  [
    ["NAME", "str", "heart-of-gold-crew"],
    ["MEMBER", "str", "ford.prefect"],
  ],
  { seq: 502 },
);
msg(G, "MEMBER_ADD", "response", "member-add-response", "MEMBER_ADD response", [], { seq: 502 });
msg(
  G,
  "MEMBER_ADD",
  "indication",
  "member-add-indication",
  "MEMBER_ADD indication to all members: NAME, FROM, MEMBER",
  [
    ["NAME", "str", "heart-of-gold-crew"],
    ["FROM", "str", "tricia"],
    ["MEMBER", "str", "ford.prefect"],
  ],
);
msg(
  G,
  "MEMBER_ADD",
  "indication",
  "member-add-indication-to-added",
  "To the added user's devices: the group's GROUP_CHAT_TUPLE with INITIAL = 1",
  [
    [
      "GROUP_CHAT_TUPLE",
      "tuple",
      groupTuple("heart-of-gold-crew", ["tricia", "zaphod", "ford.prefect"], T0 + 9000),
    ],
    ["INITIAL", "u8", 1],
  ],
);
err(G, "MEMBER_ADD", "MEMBER_NOT_CONTACT", "member-add-error-not-contact", "Not my contact, or blocked", [], {
  seq: 502,
});
err(G, "MEMBER_ADD", "MEMBER_ALREADY_EXISTS", "member-add-error-exists", "Already a member", [], {
  seq: 502,
});
msg(
  G,
  "MEMBER_REMOVE",
  "request",
  "member-remove-request",
  "MEMBER_REMOVE (own name = leave)",
  [
    ["NAME", "str", "heart-of-gold-crew"],
    ["MEMBER", "str", "tricia"],
  ],
  { seq: 503 },
);
msg(G, "MEMBER_REMOVE", "response", "member-remove-response", "MEMBER_REMOVE response", [], { seq: 503 });
msg(
  G,
  "MEMBER_REMOVE",
  "indication",
  "member-remove-indication",
  "MEMBER_REMOVE indication to all members, the removed one included",
  [
    ["NAME", "str", "heart-of-gold-crew"],
    ["FROM", "str", "tricia"],
    ["MEMBER", "str", "tricia"],
  ],
);
err(G, "MEMBER_REMOVE", "INVALID_STATE", "member-remove-error-not-member", "Requester not a member", [], {
  seq: 503,
});
msg(
  G,
  "MESSAGE_SEND",
  "request",
  "message-send-request",
  "MESSAGE_SEND: NAME, MESSAGE",
  [
    ["NAME", "str", "heart-of-gold-crew"],
    ["MESSAGE", "str", "Improbability drive engaged."],
  ],
  { seq: 504 },
);
msg(
  G,
  "MESSAGE_SEND",
  "response",
  "message-send-response",
  "MESSAGE_SEND response: TIMESTAMP",
  [["TIMESTAMP", "u64", T0 + 9900]],
  {
    seq: 504,
  },
);
msg(
  G,
  "MESSAGE_SEND",
  "indication",
  "message-send-indication",
  "MESSAGE_SEND indication: NAME, FROM, MESSAGE, TIMESTAMP",
  [
    ["NAME", "str", "heart-of-gold-crew"],
    ["FROM", "str", "tricia"],
    ["MESSAGE", "str", "Improbability drive engaged."],
    ["TIMESTAMP", "u64", T0 + 9900],
  ],
);
msg(
  G,
  "MESSAGE_SEND",
  "indication",
  "message-send-indication-replay",
  "A replayed group message after GET with TIMESTAMP: INITIAL = 1",
  [
    ["NAME", "str", "heart-of-gold-crew"],
    ["FROM", "str", "zaphod"],
    ["MESSAGE", "str", "Hi, I'm Zaphod."],
    ["TIMESTAMP", "u64", T0 + 8000],
    ["INITIAL", "u8", 1],
  ],
);
err(G, "MESSAGE_SEND", "INVALID_STATE", "message-send-error-not-member", "Sender not a member", [], {
  seq: 504,
});

// ---- wire-form edge cases ---------------------------------------------------------------------

msg(
  L,
  "CONTACT_ADD",
  "request",
  "contact-add-request-wide-length",
  "A TLV written with the u32 length form (type|0x8000) although short: readers accept both forms (§6)",
  [["CONTACT_ADDRESS", "str", "arthur", "wide"]],
  { seq: 120, source: "PROTOCOL.md §2.3, §6 (constructed)" },
);

// ---- write ------------------------------------------------------------------------------------

const FILE_DESCRIPTIONS = {
  examples: "PROTOCOL.md §5 examples and the bytes observed from real clients, verbatim",
  version: "Version-channel messages (§2.1)",
  stream: "STREAM family (§4.1), global errors and extension-family handling (§2.2, §2.5)",
  device: "DEVICE family (§4.2)",
  lists:
    "LISTS family (§4.3). Responses echo the request's list TLV; indications carry FROM and the list TLV.",
  im: "IM family (§4.4)",
  presence: "PRESENCE family (§4.5)",
  avatar: "AVATAR family (§4.6)",
  group_chats: "GROUP_CHATS family (§4.7)",
};

mkdirSync(outDir, { recursive: true });
let total = 0;
for (const [file, list] of Object.entries(fixtures)) {
  const doc = {
    description: FILE_DESCRIPTIONS[file] ?? file,
    generatedBy: "proto-fixtures/scripts/generate.mjs",
    fixtures: list,
  };
  // One TLV per line keeps the files short enough to read.
  const text = JSON.stringify(doc, null, 2).replace(
    /\{\n\s+"type": (\d+),\n\s+"value": ("[0-9a-f]*")(,\n\s+"wide": true)?\n\s+\}/g,
    (_m, type, value, wide) => `{ "type": ${type}, "value": ${value}${wide ? ', "wide": true' : ""} }`,
  );
  writeFileSync(path.join(outDir, `${file}.json`), text + "\n");
  total += list.length;
}
console.log(`wrote ${total} fixtures in ${Object.keys(fixtures).length} files to ${outDir}`);
