import assert from "node:assert/strict";
import { test } from "node:test";
import { createMemoryBus, encodeDeliveryAck, subjects } from "@impp/bus";
import { createMemorySessionStore } from "@impp/sessions";
import type { Logger } from "@impp/telemetry";
import { retireEarlierIncarnations } from "./incarnations.js";

const quiet = { info() {}, warn() {} } as unknown as Logger;

test("earlier incarnations nobody serves are marked dead; live ones and other prefixes are left alone", async () => {
  const bus = createMemoryBus();
  const sessions = createMemorySessionStore();
  const me = "box-aaaaaaaaaa";
  const dead = "box-bbbbbbbbbb";
  const live = "box-cccccccccc";
  const otherPrefix = "box-2-dddddddddd"; // "box-2"'s, not ours
  for (const e of [me, dead, live, otherPrefix]) await sessions.heartbeatEdge(e, 60_000);
  const bound = await sessions.bindDevice(
    {
      account: "carol",
      edgeId: dead,
      connId: "c1",
      remoteAddress: "10.0.0.1",
      connectedAt: Date.now(),
      status: 1,
      capabilities: [],
      isIdle: false,
      isMobile: true,
      isStatusAutomatic: false,
    },
    "phone",
    10,
  );
  assert.ok(bound.ok);
  const sub = bus.subscribe(subjects.edge(live), (m) => {
    m.respond(encodeDeliveryAck({ delivered: 0 }));
  });
  const report = await retireEarlierIncarnations({
    bus,
    sessions,
    edgeId: me,
    prefix: "box",
    timeoutMs: 1000,
    logger: quiet,
  });
  assert.deepEqual(report.retired, [dead]);
  assert.deepEqual(report.alive, [live]);
  assert.deepEqual(await sessions.deadEdges(), [dead]);
  assert.equal(
    (await sessions.devicesOfEdge(dead)).length,
    1,
    "the presence sweep removes them, with indications",
  );
  sub.unsubscribe();
  await bus.close();
});
