// The request envelope this package's tests send by default (not exported from the package).
import assert from "node:assert/strict";
import { requestBuilder } from "@impp/service-kit/testing";
import type { SessionStore } from "@impp/sessions";

// The sender is tricia's "laptop", which declared IM and TYPING.
export const request = requestBuilder({
  family: 4,
  type: 3,
  account: "tricia",
  device: "laptop",
  capabilities: [1, 2],
});

/** Binds device `name` of `account` on `edgeId` with `capabilities` (connId `<account>-<name>`). */
export async function bindDevice(
  sessions: SessionStore,
  account: string,
  name: string,
  edgeId: string,
  capabilities: number[],
): Promise<void> {
  const r = await sessions.bindDevice(
    {
      account,
      edgeId,
      connId: `${account}-${name}`,
      remoteAddress: "192.0.2.1",
      connectedAt: 1_700_000_000_500,
      status: 1,
      capabilities,
      isIdle: false,
      isMobile: false,
      isStatusAutomatic: false,
    },
    name,
    10,
  );
  assert.ok(r.ok);
}
