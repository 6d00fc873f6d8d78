import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DeviceType,
  Family,
  Feature,
  Flags,
  GlobalError,
  ImType,
  PresenceType,
  StreamError,
  StreamType,
} from "@impp/protocol";
import {
  type Decision,
  decide,
  isExtensionRequest,
  negotiateFeatures,
  Phase,
  type SessionView,
  versionReply,
} from "./session-state.js";

const view = (phase: Phase, over: Partial<SessionView> = {}): SessionView => ({
  phase,
  featuresDone: false,
  authStarted: false,
  ...over,
});

function err(code: number, close = false, extension = false): Decision {
  return { kind: "error", code, close, extension };
}

describe("decide: before TLS", () => {
  const s = view(Phase.PRE_TLS);
  test("PING and FEATURES_SET are handled by the edge", () => {
    assert.deepEqual(decide(s, 0, Family.STREAM, StreamType.PING), { kind: "ping" });
    assert.deepEqual(decide(s, 0, Family.STREAM, StreamType.FEATURES_SET), { kind: "features" });
  });
  test("anything else is INVALID_STATE and closes", () => {
    assert.deepEqual(
      decide(s, 0, Family.STREAM, StreamType.AUTHENTICATE),
      err(GlobalError.INVALID_STATE, true),
    );
    assert.deepEqual(decide(s, 0, Family.IM, ImType.MESSAGE_SEND), err(GlobalError.INVALID_STATE, true));
    assert.deepEqual(decide(s, 0, 0x4001, 1), err(GlobalError.INVALID_STATE, true, true));
    // A PING with the response flag is not a request.
    assert.deepEqual(
      decide(s, Flags.RESPONSE, Family.STREAM, StreamType.PING),
      err(GlobalError.INVALID_STATE, true),
    );
  });
});

describe("decide: header checks (session goes on)", () => {
  const s = view(Phase.BOUND);
  test("response, indication or error flags from a client are INVALID_STATE", () => {
    for (const f of [Flags.RESPONSE, Flags.INDICATION, Flags.ERROR]) {
      assert.deepEqual(decide(s, f, Family.IM, ImType.MESSAGE_SEND), err(GlobalError.INVALID_STATE));
    }
  });
  test("unknown core family, MSB family and extension families are INVALID_TLV_FAMILY", () => {
    assert.deepEqual(decide(s, 0, 0, 1), err(GlobalError.INVALID_TLV_FAMILY));
    assert.deepEqual(decide(s, 0, 9, 1), err(GlobalError.INVALID_TLV_FAMILY));
    assert.deepEqual(decide(s, 0, 0x8001, 1), err(GlobalError.INVALID_TLV_FAMILY, false, true));
    // Unimplemented extension family, with and without the extension bit: the error carries the bit either way.
    assert.deepEqual(decide(s, Flags.EXTENSION, 0x4001, 1), err(GlobalError.INVALID_TLV_FAMILY, false, true));
    assert.deepEqual(decide(s, 0, 0x4001, 1), err(GlobalError.INVALID_TLV_FAMILY, false, true));
  });
  test("unknown type in a known family (MSB or extension types included) is INVALID_TLV_VALUE", () => {
    assert.deepEqual(decide(s, 0, Family.IM, 99), err(GlobalError.INVALID_TLV_VALUE));
    assert.deepEqual(decide(s, 0, Family.IM, 0x8003), err(GlobalError.INVALID_TLV_VALUE, false, true));
    assert.deepEqual(
      decide(s, Flags.EXTENSION, Family.IM, 0x4003),
      err(GlobalError.INVALID_TLV_VALUE, false, true),
    );
  });
  test("isExtensionRequest", () => {
    assert.equal(isExtensionRequest(0, 1, 1), false);
    assert.equal(isExtensionRequest(Flags.EXTENSION, 1, 1), true);
    assert.equal(isExtensionRequest(0, 0x4000, 1), true);
    assert.equal(isExtensionRequest(0, 1, 0x4000), true);
  });
});

describe("decide: session phases", () => {
  test("before login: AUTHENTICATE routes, FEATURES_SET once, PING local, the rest INVALID_STATE", () => {
    const s = view(Phase.PRE_AUTH);
    assert.deepEqual(decide(s, 0, Family.STREAM, StreamType.AUTHENTICATE), { kind: "route" });
    assert.deepEqual(decide(s, 0, Family.STREAM, StreamType.FEATURES_SET), { kind: "features" });
    assert.deepEqual(decide(s, 0, Family.STREAM, StreamType.PING), { kind: "ping" });
    assert.deepEqual(decide(s, 0, Family.DEVICE, DeviceType.BIND), err(GlobalError.INVALID_STATE));
    assert.deepEqual(decide(s, 0, Family.IM, ImType.MESSAGE_SEND), err(GlobalError.INVALID_STATE));
  });
  test("a second FEATURES_SET, or one after AUTHENTICATE, is INVALID_STATE", () => {
    assert.deepEqual(
      decide(view(Phase.PRE_AUTH, { featuresDone: true }), 0, Family.STREAM, StreamType.FEATURES_SET),
      err(GlobalError.INVALID_STATE),
    );
    assert.deepEqual(
      decide(view(Phase.PRE_AUTH, { authStarted: true }), 0, Family.STREAM, StreamType.FEATURES_SET),
      err(GlobalError.INVALID_STATE),
    );
    assert.deepEqual(
      decide(view(Phase.BOUND), 0, Family.STREAM, StreamType.FEATURES_SET),
      err(GlobalError.INVALID_STATE),
    );
  });
  test("logged in: only DEVICE BIND and PING", () => {
    const s = view(Phase.LOGGED_IN, { featuresDone: true, authStarted: true });
    assert.deepEqual(decide(s, 0, Family.DEVICE, DeviceType.BIND), { kind: "route" });
    assert.deepEqual(decide(s, 0, Family.STREAM, StreamType.PING), { kind: "ping" });
    assert.deepEqual(decide(s, 0, Family.STREAM, StreamType.AUTHENTICATE), err(GlobalError.INVALID_STATE));
    assert.deepEqual(decide(s, 0, Family.DEVICE, DeviceType.UPDATE), err(GlobalError.INVALID_STATE));
    assert.deepEqual(decide(s, 0, Family.PRESENCE, PresenceType.GET), err(GlobalError.INVALID_STATE));
  });
  test("bound: every family routes; BIND and AUTHENTICATE again are INVALID_STATE", () => {
    const s = view(Phase.BOUND, { featuresDone: true, authStarted: true });
    assert.deepEqual(decide(s, 0, Family.IM, ImType.MESSAGE_SEND), { kind: "route" });
    assert.deepEqual(decide(s, 0, Family.DEVICE, DeviceType.UNBIND), { kind: "route" });
    assert.deepEqual(decide(s, 0, Family.GROUP_CHATS, 2), { kind: "route" });
    assert.deepEqual(decide(s, 0, Family.DEVICE, DeviceType.BIND), err(GlobalError.INVALID_STATE));
    assert.deepEqual(decide(s, 0, Family.STREAM, StreamType.AUTHENTICATE), err(GlobalError.INVALID_STATE));
  });
});

describe("negotiateFeatures", () => {
  const TLS = Feature.TLS;
  const Z = Feature.COMPRESSION;
  test("plain port: TLS required, compression granted when allowed", () => {
    assert.deepEqual(negotiateFeatures(TLS | Z, false, true), {
      ok: true,
      features: TLS | Z,
      compression: true,
      startTls: true,
    });
    assert.deepEqual(negotiateFeatures(TLS, false, true), {
      ok: true,
      features: TLS,
      compression: false,
      startTls: true,
    });
    assert.deepEqual(negotiateFeatures(TLS | Z, false, false), {
      ok: true,
      features: TLS,
      compression: false,
      startTls: true,
    });
    assert.deepEqual(negotiateFeatures(Z, false, true), { ok: false, code: StreamError.FEATURE_INVALID });
    assert.deepEqual(negotiateFeatures(0, false, true), { ok: false, code: StreamError.FEATURE_INVALID });
  });
  test("unknown bits are FEATURE_INVALID", () => {
    assert.deepEqual(negotiateFeatures(TLS | 0x4, false, true), {
      ok: false,
      code: StreamError.FEATURE_INVALID,
    });
    assert.deepEqual(negotiateFeatures(0x8000 | TLS, true, true), {
      ok: false,
      code: StreamError.FEATURE_INVALID,
    });
  });
  test("TLS-first: TLS acknowledged without a new handshake", () => {
    assert.deepEqual(negotiateFeatures(TLS | Z, true, true), {
      ok: true,
      features: TLS | Z,
      compression: true,
      startTls: false,
    });
    assert.deepEqual(negotiateFeatures(Z, true, true), {
      ok: true,
      features: TLS | Z,
      compression: true,
      startTls: false,
    });
  });
});

describe("versionReply", () => {
  test("echoes versions >= 8, rejects older ones with 8, ignores later messages", () => {
    assert.deepEqual(versionReply(14, false), { kind: "echo", reply: 14 });
    assert.deepEqual(versionReply(8, false), { kind: "echo", reply: 8 });
    assert.deepEqual(versionReply(7, false), { kind: "reject", reply: 8 });
    assert.deepEqual(versionReply(0, false), { kind: "reject", reply: 8 });
    assert.deepEqual(versionReply(14, true), { kind: "ignore" });
    assert.deepEqual(versionReply(3, true), { kind: "ignore" });
  });
});
