// Interop: the project's own client library (@impp/client) against the edge, in both TLS modes,
// with and without compression — the two sides were written independently from PROTOCOL.md.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DeliveryFilter, decodeDeliveryAck, encodeDelivery, isEnvelopeError, subjects } from "@impp/bus";
import { connectAndLogin, type ImppClient } from "@impp/client";
import { DeviceError, DeviceTlv, Family, Flags, ImTlv, ImType, StreamTlv, TlvWriter } from "@impp/protocol";
import { testCert } from "@impp/test-kit";
import { CloseReason } from "./sweeper.js";
import {
  fakeAuth,
  fakeDevice,
  fakeService,
  reply,
  responseTo,
  type Stack,
  startStack,
  watchDeviceGone,
} from "./test-support.js";

let stack: Stack;
let gone: ReturnType<typeof watchDeviceGone>;
before(async () => {
  stack = await startStack({ limits: { drainGraceMs: 200 } });
  fakeAuth(stack.bus);
  fakeDevice(stack.bus);
  fakeService(stack.bus, Family.IM, (req) =>
    reply([
      responseTo(
        req,
        new TlvWriter().bytes(ImTlv.MESSAGE_ID, Buffer.from([1, 2, 3, 4])).u64(ImTlv.TIMESTAMP, 5),
      ),
    ]),
  );
  gone = watchDeviceGone(stack.bus);
});
after(() => stack.stop());

async function login(name: string, mode: "inband" | "direct", compression: boolean): Promise<ImppClient> {
  const port = mode === "direct" ? stack.edge.ports.tls! : stack.edge.ports.plain;
  return connectAndLogin({
    host: "127.0.0.1",
    port,
    tls: mode,
    compression,
    ca: (await testCert()).cert,
    servername: "localhost",
    name,
    password: "pw",
    deviceName: `${name}-dev`,
    capabilities: [1, 2],
  });
}

for (const mode of ["inband", "direct"] as const) {
  for (const compression of [false, true]) {
    test(`@impp/client over ${mode} TLS${compression ? " with compression" : ""}: login, ping, IM, a delivery, device-gone`, async () => {
      const name = `c-${mode}-${compression ? "z" : "p"}`;
      const c = await login(name, mode, compression);
      const pong = await c.ping();
      assert.equal(pong.isError, false);
      assert.equal(typeof pong.tlvs.u64number(StreamTlv.TIMESTAMP), "number");
      const im = await c.sendIm("someone", "hello");
      assert.equal(im.isError, false);
      assert.equal(im.compressed, compression);
      const ind = new TlvWriter()
        .string(ImTlv.FROM, "someone")
        .string(ImTlv.MESSAGE_CHUNK, "hi back")
        .frame({ flags: Flags.INDICATION, family: Family.IM, type: ImType.MESSAGE_SEND, sequence: 0 });
      const msg = await stack.bus.request(
        subjects.edge(stack.edge.edgeId),
        encodeDelivery({
          account: name,
          filter: DeliveryFilter.ALL,
          device: "",
          capability: 1,
          closeAfter: false,
          frames: ind,
        }),
        { timeoutMs: 2000 },
      );
      const ack = decodeDeliveryAck(msg.data);
      assert.ok(!isEnvelopeError(ack));
      assert.equal(ack.delivered, 1);
      const got = await c.nextIndication((f) => f.family === Family.IM);
      assert.equal(got.tlvs.string(ImTlv.MESSAGE_CHUNK), "hi back");
      await c.close();
      const g = await gone.waitFor(name);
      assert.deepEqual([g.device, g.reason], [`${name}-dev`, CloseReason.CLIENT_CLOSED]);
    });
  }
}

describe("drain seen by the client library", () => {
  test("DEVICE_BOUND_ELSEWHERE with SERVER arrives as an unsolicited error, then the edge closes", async () => {
    const c = await login("drainee", "inband", true);
    await stack.edge.drain();
    const info = await c.waitClosed();
    assert.equal(info.initiator, "server");
    const e = info.errorFrame;
    assert.ok(e !== undefined);
    assert.deepEqual(
      [e.family, e.errorCode, e.sequence],
      [Family.DEVICE, DeviceError.DEVICE_BOUND_ELSEWHERE, 0],
    );
    assert.equal(e.tlvs.string(DeviceTlv.SERVER), stack.config.serverName);
  });
});
