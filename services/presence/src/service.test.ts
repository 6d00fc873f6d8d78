import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { accountsMigrations } from "@impp/auth";
import {
  type Bus,
  createMemoryBus,
  decodeReply,
  encodeRequest,
  isEnvelopeError,
  type ReplyEnvelope,
  type RequestEnvelope,
  subjects,
} from "@impp/bus";
import { deviceGoneEvent } from "@impp/edge/events";
import { DeviceTlv, DeviceType, Family, TlvBlock, TlvWriter } from "@impp/protocol";
import { rosterMigrations } from "@impp/roster";
import { type ServedModule, startModule } from "@impp/service-kit";
import { type FakeEdge, fakeEdge, frames, only, testConfig } from "@impp/service-kit/testing";
import { createMemorySessionStore, type SessionStore } from "@impp/sessions";
import { openStore, type Store } from "@impp/store";
import { createTelemetry, type Telemetry } from "@impp/telemetry";
import { createPresenceModule, type PresenceState } from "./module.js";
import { request } from "./test-support.js";

// A long interval: the test drives sweeps itself, so the timer never races it.
const config = testConfig({ IMPP_EDGE_HEARTBEAT_MS: "600000", IMPP_EDGE_TTL_MS: "1200000" });
const TTL = config.heartbeat.ttlMs;

describe("presence service", () => {
  let bus: Bus;
  let sessions: SessionStore;
  let telemetry: Telemetry;
  let served: ServedModule<PresenceState>;
  let store: Store;
  let service: { sweep: PresenceState["sweep"]; stop(): Promise<void> };
  let edgeA: FakeEdge;
  let clock: number;

  beforeEach(async () => {
    clock = 1_700_000_000_000;
    bus = createMemoryBus();
    sessions = createMemorySessionStore({ now: () => clock });
    telemetry = createTelemetry({ serviceName: "presence-test", logLevel: "silent" });
    edgeA = fakeEdge(bus, "edge-a");
    fakeEdge(bus, "edge-b");
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    await store.migrate(rosterMigrations);
    served = await startModule(createPresenceModule({ now: () => clock, instanceId: "presence-1" }), {
      bus,
      sessions,
      store,
      config,
      telemetry,
    });
    service = { sweep: served.started.state.sweep, stop: () => served.stop() };
  });
  afterEach(async () => {
    await service.stop();
    await store.close();
    await bus.close();
    await sessions.close();
    await telemetry.shutdown();
  });

  async function call(req: RequestEnvelope): Promise<ReplyEnvelope> {
    const msg = await bus.request(subjects.request(Family.DEVICE), encodeRequest(req), { timeoutMs: 5000 });
    const reply = decodeReply(msg.data);
    if (isEnvelopeError(reply)) throw reply;
    // The other devices hear of a change after the answer: wait for that too.
    await served.idle();
    return reply;
  }

  const bind = (account: string, edge: string, connId: string) =>
    call(
      request(Buffer.from(new TlvWriter().string(DeviceTlv.DEVICE_NAME, "laptop").finish()), {
        account,
        edgeId: edge,
        connId,
        server: `${edge}.example.org:3158`,
      }),
    );

  test("binds over the bus in the DEVICE queue group", async () => {
    const r = await bind("tricia", "edge-a", "c1");
    assert.equal(r.device, "laptop");
  });

  test("a device-gone event unbinds the device and tells the others", async () => {
    await bind("tricia", "edge-a", "c1");
    await bind("tricia", "edge-b", "c2");
    const next = edgeA.next();
    bus.publish(
      deviceGoneEvent.subject,
      deviceGoneEvent.encode({
        account: "tricia",
        device: "laptop-2",
        connId: "c2",
        edgeId: "edge-b",
        reason: 0,
      }),
    );
    const d = await next;
    const ind = only(d.frames);
    assert.deepEqual([ind.flags, ind.type], [2, DeviceType.UNBIND]);
    assert.equal((TlvBlock.parse(ind.block) as TlvBlock).string(DeviceTlv.DEVICE_NAME), "laptop-2");
    assert.deepEqual(
      (await sessions.getDevices("tricia")).map((x) => x.name),
      ["laptop"],
    );
  });

  test("a dead edge's devices are unbound, the users' other devices told, and the edge forgotten", async () => {
    await sessions.heartbeatEdge("edge-a", TTL);
    await sessions.heartbeatEdge("edge-b", TTL);
    await bind("tricia", "edge-a", "c1");
    await bind("tricia", "edge-b", "c2");
    await bind("tricia", "edge-b", "c3");
    await bind("arthur", "edge-b", "c4");
    edgeA.received.length = 0;

    assert.deepEqual(await service.sweep(), { edges: [], devices: 0 });
    clock += TTL + 1;
    await sessions.heartbeatEdge("edge-a", TTL);
    assert.deepEqual(await service.sweep(), { edges: ["edge-b"], devices: 3 });

    assert.deepEqual(
      (await sessions.getDevices("tricia")).map((x) => x.name),
      ["laptop"],
    );
    assert.deepEqual(await sessions.getDevices("arthur"), []);
    assert.deepEqual(await sessions.devicesOfEdge("edge-b"), []);
    assert.deepEqual(await sessions.deadEdges(), []);
    // One delivery for tricia's remaining device, one UNBIND per device that went.
    assert.equal(edgeA.received.length, 1);
    const names = frames(edgeA.received[0]!.frames).map((f) =>
      (TlvBlock.parse(f.block) as TlvBlock).string(DeviceTlv.DEVICE_NAME),
    );
    assert.deepEqual(names.sort(), ["laptop-2", "laptop-3"]);
  });

  test("a dead edge claimed by another instance is left to it", async () => {
    await sessions.heartbeatEdge("edge-b", TTL);
    await bind("tricia", "edge-b", "c1");
    clock += TTL + 1;
    assert.equal(await sessions.claimEdgeCleanup("edge-b", "presence-2", 60_000), true);
    assert.deepEqual(await service.sweep(), { edges: [], devices: 0 });
    assert.equal((await sessions.getDevices("tricia")).length, 1);
    clock += 60_001;
    assert.deepEqual(await service.sweep(), { edges: ["edge-b"], devices: 1 });
  });
});
