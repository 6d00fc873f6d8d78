import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { type Bus, createMemoryBus, DeliveryFilter, ReplyAction, type RequestEnvelope } from "@impp/bus";
import {
  DeviceError,
  DeviceTlv,
  DeviceType,
  Family,
  GlobalError,
  Status,
  TlvBlock,
  TlvWriter,
} from "@impp/protocol";
import {
  errorCode,
  type FakeEdge,
  fakeEdge,
  frames,
  handlerFor,
  only,
  testConfig,
} from "@impp/service-kit/testing";
import { createMemorySessionStore, decodeDevice, type SessionStore } from "@impp/sessions";
import { type DeviceDeps, deviceGone } from "./device.js";
import { presenceModule } from "./module.js";
import { request } from "./test-support.js";

const config = testConfig({ IMPP_MAX_DEVICES: "3" });

const handleDeviceRequest = (req: RequestEnvelope, deps: DeviceDeps) =>
  handlerFor(
    presenceModule,
    Family.DEVICE,
    { ...deps, presence: undefined as never, sweep: async () => ({ edges: [], devices: 0 }) },
    config,
  )(req);

function parse(b: Uint8Array): TlvBlock {
  const r = TlvBlock.parse(Buffer.from(b), 2);
  if (!(r instanceof TlvBlock)) throw r;
  return r;
}

function bindBlock(opts: { name?: string; status?: number; caps?: number[]; message?: string } = {}): Buffer {
  const w = new TlvWriter().string(DeviceTlv.CLIENT_NAME, "Trillian").string(DeviceTlv.CLIENT_VERSION, "6.5");
  if (opts.name !== undefined) w.string(DeviceTlv.DEVICE_NAME, opts.name);
  w.u16(DeviceTlv.STATUS, opts.status ?? Status.ONLINE);
  if (opts.message !== undefined) w.string(DeviceTlv.STATUS_MESSAGE, opts.message);
  w.u16list(DeviceTlv.CAPABILITIES, opts.caps ?? [1, 2]);
  w.u8(DeviceTlv.IS_IDLE, 0);
  return Buffer.from(w.finish());
}

describe("DEVICE", () => {
  let bus: Bus;
  let sessions: SessionStore;
  let edgeA: FakeEdge;
  let edgeB: FakeEdge;
  let deps: DeviceDeps;
  let clock: number;

  beforeEach(() => {
    bus = createMemoryBus();
    clock = 1_700_000_000_000;
    sessions = createMemorySessionStore({ now: () => clock });
    edgeA = fakeEdge(bus, "edge-a");
    edgeB = fakeEdge(bus, "edge-b");
    deps = { bus, sessions, config, now: () => clock, servers: new Map() };
  });
  afterEach(async () => {
    await bus.close();
    await sessions.close();
  });

  const bindOn = async (edge: "a" | "b", connId: string, block = bindBlock({ name: "laptop" })) => {
    clock += 1000;
    return handleDeviceRequest(
      request(block, {
        connId,
        edgeId: `edge-${edge}`,
        server: `${edge}.example.org:3158`,
        remoteAddress: edge === "a" ? "192.0.2.1" : "198.51.100.7",
      }),
      deps,
    );
  };

  test("BIND: response with the unique name, IP, CONNECTED_AT, SERVER and its tuple; SET_DEVICE + SET_CAPABILITIES + the record", async () => {
    const reply = await bindOn("a", "c1", bindBlock({ name: "laptop", message: "at work" }));
    assert.equal(
      reply.actions,
      ReplyAction.SET_DEVICE | ReplyAction.SET_CAPABILITIES | ReplyAction.DEVICE_RECORD,
    );
    // The edge's copy, for re-registering the device: exactly what the store holds.
    assert.deepEqual(
      decodeDevice("tricia", Buffer.from(reply.record!)),
      await sessions.getDevice("tricia", "laptop"),
    );
    assert.equal(reply.device, "laptop");
    assert.deepEqual(reply.capabilities, [1, 2]);
    const f = only(reply.frames);
    assert.deepEqual([f.flags, f.family, f.type, f.sequence], [1, 2, 1, 77]);
    const b = parse(f.block);
    assert.equal(b.string(DeviceTlv.DEVICE_NAME), "laptop");
    assert.equal(b.string(DeviceTlv.IP_ADDRESS), "192.0.2.1");
    assert.equal(b.u64number(DeviceTlv.CONNECTED_AT), clock);
    assert.equal(b.string(DeviceTlv.SERVER), "a.example.org:3158");
    const tuples = b.nestedAll(DeviceTlv.DEVICE_TUPLE) as TlvBlock[];
    assert.equal(tuples.length, 1);
    const t = tuples[0]!;
    assert.equal(t.string(DeviceTlv.DEVICE_NAME), "laptop");
    assert.equal(t.string(DeviceTlv.CLIENT_NAME), "Trillian");
    assert.equal(t.string(DeviceTlv.CLIENT_VERSION), "6.5");
    assert.equal(t.has(DeviceTlv.CLIENT_PLATFORM), false);
    assert.equal(t.u16(DeviceTlv.STATUS), Status.ONLINE);
    assert.equal(t.string(DeviceTlv.STATUS_MESSAGE), "at work");
    assert.deepEqual(t.u16list(DeviceTlv.CAPABILITIES), [1, 2]);
    assert.equal(t.u8(DeviceTlv.IS_IDLE), 0);
    assert.equal(t.string(DeviceTlv.SERVER), "a.example.org:3158");
    assert.equal(t.string(DeviceTlv.IP_ADDRESS), "192.0.2.1");
    assert.equal(edgeA.received.length + edgeB.received.length, 0, "nobody else to tell");
    const stored = await sessions.getDevice("tricia", "laptop");
    assert.equal(stored?.connId, "c1");
    assert.equal(stored?.edgeId, "edge-a");
  });

  test("BIND: absent or empty DEVICE_NAME gets a default name", async () => {
    const reply = await bindOn("a", "c1", bindBlock());
    assert.equal(reply.device, "device");
  });

  test("tuples carry each device's SERVER even from a presence instance that never saw its edge", async () => {
    await bindOn("a", "c1");
    deps = { ...deps, servers: new Map() }; // another instance: it learned nothing about edge-a
    const reply = await bindOn("b", "c2");
    const b = parse(only(reply.frames).block);
    const servers = (b.nestedAll(DeviceTlv.DEVICE_TUPLE) as TlvBlock[]).map((t) =>
      t.string(DeviceTlv.SERVER),
    );
    assert.deepEqual(servers, ["a.example.org:3158", "b.example.org:3158"]);
  });

  test("a second BIND gets a suffixed name, both tuples, and the first device an UPDATE indication", async () => {
    await bindOn("a", "c1");
    const reply = await bindOn("b", "c2");
    assert.equal(reply.device, "laptop-2");
    const b = parse(only(reply.frames).block);
    assert.equal(b.string(DeviceTlv.SERVER), "b.example.org:3158");
    const tuples = (b.nestedAll(DeviceTlv.DEVICE_TUPLE) as TlvBlock[]).map((t) => [
      t.string(DeviceTlv.DEVICE_NAME),
      t.string(DeviceTlv.SERVER),
    ]);
    assert.deepEqual(tuples, [
      ["laptop", "a.example.org:3158"],
      ["laptop-2", "b.example.org:3158"],
    ]);
    assert.equal(edgeB.received.length, 0, "the new device's edge holds no other device");
    assert.equal(edgeA.received.length, 1);
    const d = edgeA.received[0]!;
    assert.equal(d.account, "tricia");
    assert.equal(d.filter, DeliveryFilter.EXCEPT_DEVICE);
    assert.equal(d.device, "laptop-2");
    assert.equal(d.capability, 0);
    assert.equal(d.closeAfter, false);
    const ind = only(d.frames);
    assert.deepEqual([ind.flags, ind.family, ind.type, ind.sequence], [2, 2, DeviceType.UPDATE, 0]);
    const t = parse(ind.block).nested(DeviceTlv.DEVICE_TUPLE) as TlvBlock;
    assert.equal(t.string(DeviceTlv.DEVICE_NAME), "laptop-2");
    assert.equal(t.string(DeviceTlv.IP_ADDRESS), "198.51.100.7");
  });

  test("BIND before login or on a bound connection is INVALID_STATE", async () => {
    for (const over of [{ account: "" }, { device: "laptop" }]) {
      const r = await handleDeviceRequest(request(bindBlock(), over), deps);
      assert.equal(errorCode(only(r.frames)), GlobalError.INVALID_STATE);
      assert.equal(r.actions, 0);
    }
    assert.deepEqual(await sessions.getDevices("tricia"), []);
  });

  test("a banned client gets CLIENT_INVALID, with the version to upgrade to when banned by version", async () => {
    deps = { ...deps, config: testConfig({ IMPP_BANNED_CLIENTS: "OldChat,trillian<7.0" }) };
    const r = await handleDeviceRequest(request(bindBlock({ name: "laptop" })), deps);
    const err = only(r.frames);
    assert.equal(errorCode(err), DeviceError.CLIENT_INVALID);
    assert.equal(parse(err.block).string(DeviceTlv.CLIENT_VERSION), "7.0");
    assert.equal(r.actions, 0);
    assert.deepEqual(await sessions.getDevices("tricia"), [], "nothing was bound");
    const old = new TlvWriter().string(DeviceTlv.CLIENT_NAME, "OldChat").string(DeviceTlv.DEVICE_NAME, "pc");
    const banned = only((await handleDeviceRequest(request(Buffer.from(old.finish())), deps)).frames);
    assert.equal(errorCode(banned), DeviceError.CLIENT_INVALID);
    assert.equal(parse(banned.block).has(DeviceTlv.CLIENT_VERSION), false);
    deps = { ...deps, config: testConfig({ IMPP_BANNED_CLIENTS: "Trillian<6.5" }) };
    const ok = await handleDeviceRequest(request(bindBlock({ name: "laptop" })), deps);
    assert.equal(ok.actions & ReplyAction.SET_DEVICE, ReplyAction.SET_DEVICE, "6.5 is not below 6.5");
  });

  test("TOO_MANY_DEVICES past the per-user limit", async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await bindOn("a", `c${i}`)).actions & ReplyAction.SET_DEVICE, ReplyAction.SET_DEVICE);
    const r = await bindOn("a", "c9");
    assert.equal(errorCode(only(r.frames)), DeviceError.TOO_MANY_DEVICES);
    assert.equal(r.actions, 0);
    assert.equal((await sessions.getDevices("tricia")).length, 3);
  });

  test("hostile BIND fields are refused with the right code and nothing is bound", async () => {
    const w = () => new TlvWriter();
    const cases: Array<[string, Buffer, number]> = [
      ["STATUS MOBILE", bindBlock({ status: Status.MOBILE }), GlobalError.INVALID_TLV_VALUE],
      ["STATUS 9", bindBlock({ status: 9 }), GlobalError.INVALID_TLV_VALUE],
      ["STATUS as u8", Buffer.from(w().u8(DeviceTlv.STATUS, 1).finish()), GlobalError.INVALID_TLV_LENGTH],
      [
        "STATUS_MESSAGE 1025 bytes",
        bindBlock({ message: "é".repeat(512) + "x" }),
        GlobalError.INVALID_TLV_VALUE,
      ],
      ["DEVICE_NAME 65 chars", bindBlock({ name: "n".repeat(65) }), GlobalError.INVALID_TLV_VALUE],
      ["capability 0", bindBlock({ caps: [1, 0] }), GlobalError.INVALID_TLV_VALUE],
      ["capability 0x8000", bindBlock({ caps: [0x8000] }), GlobalError.INVALID_TLV_VALUE],
      [
        "CAPABILITIES odd length",
        Buffer.from(
          w()
            .bytes(DeviceTlv.CAPABILITIES, Buffer.from([0, 1, 0]))
            .finish(),
        ),
        GlobalError.INVALID_TLV_LENGTH,
      ],
      [
        "IS_IDLE two bytes",
        Buffer.from(w().u16(DeviceTlv.IS_IDLE, 1).finish()),
        GlobalError.INVALID_TLV_LENGTH,
      ],
      [
        "CLIENT_NAME not UTF-8",
        Buffer.from(
          w()
            .bytes(DeviceTlv.CLIENT_NAME, Buffer.from([0xc3]))
            .finish(),
        ),
        GlobalError.INVALID_TLV_VALUE,
      ],
      [
        "CLIENT_DESCRIPTION 2000 bytes",
        Buffer.from(w().string(DeviceTlv.CLIENT_DESCRIPTION, "d".repeat(2000)).finish()),
        GlobalError.INVALID_TLV_VALUE,
      ],
      ["overrun", Buffer.from([0, 8, 0, 10, 0x61]), GlobalError.INVALID_TLV_LENGTH],
    ];
    for (const [what, block, code] of cases) {
      const r = await bindOn("a", "c1", block);
      const f = only(r.frames);
      assert.deepEqual([f.flags, f.family, f.type, f.sequence], [4, 2, 1, 77], what);
      assert.equal(errorCode(f), code, what);
    }
    assert.deepEqual(await sessions.getDevices("tricia"), []);
  });

  test("a 64-character DEVICE_NAME of multi-byte characters is fine", async () => {
    const r = await bindOn("a", "c1", bindBlock({ name: "ü".repeat(64) }));
    assert.equal(r.device, "ü".repeat(64));
  });

  test("UPDATE: empty response, UPDATE indication with the new tuple to the others, SET_CAPABILITIES only on change", async () => {
    await bindOn("a", "c1");
    await bindOn("b", "c2");
    edgeA.received.length = 0;
    const upd = (block: Buffer, caps: number[] = [1, 2]) =>
      handleDeviceRequest(
        request(block, {
          type: DeviceType.UPDATE,
          connId: "c2",
          edgeId: "edge-b",
          server: "b.example.org:3158",
          device: "laptop-2",
          capabilities: caps,
        }),
        deps,
      );
    const r1 = await upd(
      Buffer.from(
        new TlvWriter()
          .u16(DeviceTlv.STATUS, Status.AWAY)
          .u8(DeviceTlv.IS_IDLE, 1)
          .string(DeviceTlv.STATUS_MESSAGE, "lunch")
          .finish(),
      ),
    );
    assert.equal(r1.actions, ReplyAction.DEVICE_RECORD);
    const f = only(r1.frames);
    assert.deepEqual([f.flags, f.type, f.block.length], [1, DeviceType.UPDATE, 0]);
    const stored = await sessions.getDevice("tricia", "laptop-2");
    assert.deepEqual(decodeDevice("tricia", Buffer.from(r1.record!)), stored);
    assert.deepEqual([stored?.status, stored?.isIdle, stored?.statusMessage], [Status.AWAY, true, "lunch"]);
    assert.equal(edgeA.received.length, 1);
    const d = edgeA.received[0]!;
    assert.deepEqual([d.filter, d.device], [DeliveryFilter.EXCEPT_DEVICE, "laptop-2"]);
    const ind = only(d.frames);
    assert.deepEqual([ind.flags, ind.type, ind.sequence], [2, DeviceType.UPDATE, 0]);
    const t = parse(ind.block).nested(DeviceTlv.DEVICE_TUPLE) as TlvBlock;
    assert.deepEqual(
      [
        t.string(DeviceTlv.DEVICE_NAME),
        t.u16(DeviceTlv.STATUS),
        t.u8(DeviceTlv.IS_IDLE),
        t.string(DeviceTlv.STATUS_MESSAGE),
      ],
      ["laptop-2", Status.AWAY, 1, "lunch"],
    );

    const same = await upd(Buffer.from(new TlvWriter().u16list(DeviceTlv.CAPABILITIES, [1, 2]).finish()));
    assert.equal(same.actions, ReplyAction.DEVICE_RECORD);
    const changed = await upd(Buffer.from(new TlvWriter().u16list(DeviceTlv.CAPABILITIES, [1]).finish()));
    assert.equal(changed.actions, ReplyAction.SET_CAPABILITIES | ReplyAction.DEVICE_RECORD);
    assert.deepEqual(changed.capabilities, [1]);
    assert.deepEqual((await sessions.getDevice("tricia", "laptop-2"))?.capabilities, [1]);

    const cleared = await upd(Buffer.from(new TlvWriter().string(DeviceTlv.STATUS_MESSAGE, "").finish()));
    assert.equal(only(cleared.frames).flags, 1);
    assert.equal((await sessions.getDevice("tricia", "laptop-2"))?.statusMessage, undefined);

    const bad = await upd(Buffer.from(new TlvWriter().u16(DeviceTlv.STATUS, Status.MOBILE).finish()));
    assert.equal(errorCode(only(bad.frames)), GlobalError.INVALID_TLV_VALUE);
    const unbound = await handleDeviceRequest(request(Buffer.alloc(0), { type: DeviceType.UPDATE }), deps);
    assert.equal(errorCode(only(unbound.frames)), GlobalError.INVALID_STATE);
  });

  test("UNBIND self: response, CLEAR_DEVICE|CLOSE_AFTER, removed, others told with DEVICE_NAME", async () => {
    await bindOn("a", "c1");
    await bindOn("b", "c2");
    edgeA.received.length = 0;
    const r = await handleDeviceRequest(
      request(Buffer.alloc(0), {
        type: DeviceType.UNBIND,
        connId: "c2",
        edgeId: "edge-b",
        device: "laptop-2",
      }),
      deps,
    );
    assert.equal(r.actions, ReplyAction.CLEAR_DEVICE | ReplyAction.CLOSE_AFTER);
    assert.deepEqual([only(r.frames).flags, only(r.frames).type], [1, DeviceType.UNBIND]);
    assert.deepEqual(
      (await sessions.getDevices("tricia")).map((d) => d.name),
      ["laptop"],
    );
    assert.equal(edgeB.received.length, 0);
    assert.equal(edgeA.received.length, 1);
    const ind = only(edgeA.received[0]!.frames);
    assert.deepEqual([ind.flags, ind.type, ind.sequence], [2, DeviceType.UNBIND, 0]);
    assert.equal(parse(ind.block).string(DeviceTlv.DEVICE_NAME), "laptop-2");

    // Naming itself explicitly is the same.
    const again = await handleDeviceRequest(
      request(Buffer.from(new TlvWriter().string(DeviceTlv.DEVICE_NAME, "laptop").finish()), {
        type: DeviceType.UNBIND,
        connId: "c1",
        device: "laptop",
      }),
      deps,
    );
    assert.equal(again.actions, ReplyAction.CLEAR_DEVICE | ReplyAction.CLOSE_AFTER);
    assert.deepEqual(await sessions.getDevices("tricia"), []);
  });

  test("UNBIND another device: it is told and closed, removed, the rest (not the requester) told", async () => {
    await bindOn("a", "c1"); // laptop (requester)
    await bindOn("b", "c2"); // laptop-2 (target)
    await bindOn("a", "c3"); // laptop-3 (bystander)
    edgeA.received.length = 0;
    edgeB.received.length = 0;
    const r = await handleDeviceRequest(
      request(Buffer.from(new TlvWriter().string(DeviceTlv.DEVICE_NAME, "laptop-2").finish()), {
        type: DeviceType.UNBIND,
        connId: "c1",
        device: "laptop",
      }),
      deps,
    );
    assert.equal(r.actions, 0);
    assert.deepEqual([only(r.frames).flags, only(r.frames).type], [1, DeviceType.UNBIND]);
    assert.equal(edgeB.received.length, 1);
    const kick = edgeB.received[0]!;
    assert.deepEqual(
      [kick.filter, kick.device, kick.closeAfter],
      [DeliveryFilter.ONLY_DEVICE, "laptop-2", true],
    );
    assert.equal(parse(only(kick.frames).block).string(DeviceTlv.DEVICE_NAME), "laptop-2");
    assert.deepEqual(
      (await sessions.getDevices("tricia")).map((d) => d.name),
      ["laptop", "laptop-3"],
    );
    assert.equal(edgeA.received.length, 1);
    const rest = edgeA.received[0]!;
    assert.deepEqual(
      [rest.filter, rest.device, rest.closeAfter],
      [DeliveryFilter.EXCEPT_DEVICE, "laptop", false],
    );
    const ind = only(rest.frames);
    assert.deepEqual([ind.flags, ind.type], [2, DeviceType.UNBIND]);
    assert.equal(parse(ind.block).string(DeviceTlv.DEVICE_NAME), "laptop-2");
  });

  test("UNBIND of an unknown device is INVALID_TLV_VALUE; an unknown DEVICE type too", async () => {
    await bindOn("a", "c1");
    const r = await handleDeviceRequest(
      request(Buffer.from(new TlvWriter().string(DeviceTlv.DEVICE_NAME, "ghost").finish()), {
        type: DeviceType.UNBIND,
        device: "laptop",
      }),
      deps,
    );
    assert.equal(errorCode(only(r.frames)), GlobalError.INVALID_TLV_VALUE);
    const u = await handleDeviceRequest(request(Buffer.alloc(0), { type: 42, device: "laptop" }), deps);
    const f = only(u.frames);
    assert.deepEqual([f.type, errorCode(f)], [42, GlobalError.INVALID_TLV_VALUE]);
    assert.equal((await sessions.getDevices("tricia")).length, 1);
  });

  test("an edge that does not answer does not fail the BIND", async () => {
    await bindOn("a", "c1");
    edgeA.stop();
    const r = await bindOn("b", "c2");
    assert.equal(r.device, "laptop-2");
    assert.equal(only(r.frames).flags, 1);
  });

  test("a device gone implicitly is removed once (by its own connId) and the others told", async () => {
    await bindOn("a", "c1");
    await bindOn("b", "c2");
    edgeA.received.length = 0;
    assert.equal(await deviceGone(deps, "tricia", "laptop-2", "an-older-connection"), false);
    assert.equal((await sessions.getDevices("tricia")).length, 2);
    assert.equal(edgeA.received.length, 0);
    assert.equal(await deviceGone(deps, "tricia", "laptop-2", "c2"), true);
    assert.deepEqual(
      (await sessions.getDevices("tricia")).map((d) => d.name),
      ["laptop"],
    );
    const d = edgeA.received[0]!;
    assert.equal(d.filter, DeliveryFilter.ALL);
    assert.equal(parse(only(d.frames).block).string(DeviceTlv.DEVICE_NAME), "laptop-2");
    assert.equal(await deviceGone(deps, "tricia", "laptop-2", "c2"), false);
    assert.equal(edgeA.received.length, 1);
  });

  test("a backend failure is SERVICE_UNAVAILABLE", async () => {
    await sessions.close();
    const r = await bindOn("a", "c1");
    assert.equal(errorCode(only(r.frames)), GlobalError.SERVICE_UNAVAILABLE);
    assert.equal(frames(r.frames).length, 1);
  });
});
