import assert from "node:assert/strict";
import { test } from "node:test";
import { accountsMigrations } from "@impp/auth";
import { createMemoryBus, decodeReply, encodeRequest, isEnvelopeError, subjects } from "@impp/bus";
import { Family, ImTlv, TlvWriter } from "@impp/protocol";
import { rosterMigrations } from "@impp/roster";
import { befriend, seedAccounts } from "@impp/roster/testing";
import { startModule } from "@impp/service-kit";
import { fakeEdge, only, testConfig } from "@impp/service-kit/testing";
import { createMemorySessionStore } from "@impp/sessions";
import { openStore } from "@impp/store";
import { createTelemetry } from "@impp/telemetry";
import { messagingModule } from "./module.js";
import { request } from "./test-support.js";

test("the messaging service answers MESSAGE_SEND over the bus and delivers through the edge", async () => {
  const bus = createMemoryBus();
  const sessions = createMemorySessionStore();
  const telemetry = createTelemetry({ serviceName: "messaging-test", logLevel: "silent" });
  const edge = fakeEdge(bus, "edge-a");
  const store = await openStore({ memory: true });
  await store.migrate(accountsMigrations);
  await store.migrate(rosterMigrations);
  await seedAccounts(store, ["tricia", "arthur"]);
  await befriend(store, "tricia", "arthur");
  await store.migrate(messagingModule.migrations!);
  const service = await startModule(messagingModule, {
    bus,
    sessions,
    store,
    config: testConfig(),
    telemetry,
  });
  try {
    const bound = await sessions.bindDevice(
      {
        account: "arthur",
        edgeId: "edge-a",
        connId: "c9",
        remoteAddress: "192.0.2.9",
        connectedAt: 1,
        status: 1,
        capabilities: [1],
        isIdle: false,
        isMobile: false,
        isStatusAutomatic: false,
      },
      "phone",
      10,
    );
    assert.ok(bound.ok);
    const block = new TlvWriter()
      .string(ImTlv.TO, "arthur")
      .u16(ImTlv.CAPABILITY, 1)
      .bytes(ImTlv.MESSAGE_ID, Buffer.from("m1"))
      .bytes(ImTlv.MESSAGE_CHUNK, Buffer.from("hi"))
      .finish();
    const msg = await bus.request(subjects.request(Family.IM), encodeRequest(request(block)), {
      timeoutMs: 5000,
    });
    const reply = decodeReply(msg.data);
    assert.ok(!isEnvelopeError(reply));
    assert.equal(only(reply.frames).flags, 1);
    assert.equal(edge.received.length, 1);
    assert.equal(edge.received[0]!.account, "arthur");
  } finally {
    await service.stop();
    await store.close();
    await bus.close();
    await sessions.close();
    await telemetry.shutdown();
  }
});
