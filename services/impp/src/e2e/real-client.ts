// What every real client does first (PROTOCOL.md §3 [clients]): right after BIND, purple-impp sends
// — one at a time, each with an empty block — LISTS GET, GROUP_CHATS MESSAGE_SEND (type 5),
// IM OFFLINE_MESSAGES_GET and PRESENCE GET, and drops the connection on any error in those
// families. All four must succeed and the connection must stay up.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { connectAndLogin, type ImppClient } from "@impp/client";
import { Family, GroupChatsType, ImType, ListsType, PresenceType } from "@impp/protocol";
import { type Cluster, type ClusterMode, isMultiProcess, startCluster } from "../testing/cluster.js";
import { E2E_ENV } from "./suite.js";

export function realClientSuite(mode: ClusterMode): void {
  describe(`what a real client sends after binding (${mode})`, () => {
    let cluster: Cluster;
    const clients: ImppClient[] = [];
    before(async () => {
      cluster = await startCluster({ mode, env: E2E_ENV, ...(isMultiProcess(mode) ? { edges: 2 } : {}) });
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await cluster?.stop();
    });

    test("LISTS GET, GROUP_CHATS MESSAGE_SEND, IM OFFLINE_MESSAGES_GET and PRESENCE GET with empty blocks all succeed; the session goes on", async () => {
      const name = `purple${randomBytes(4).toString("hex")}`;
      await cluster.addUser(name, "pw");
      for (const [i, edge] of cluster.edges.entries()) {
        const c = await connectAndLogin({
          host: edge.host,
          port: edge.port,
          rejectUnauthorized: false,
          compression: i % 2 === 1,
          name,
          password: "pw",
          deviceName: `purple-${i}`,
        });
        clients.push(c);
        for (const [family, type] of [
          [Family.LISTS, ListsType.GET],
          [Family.GROUP_CHATS, GroupChatsType.MESSAGE_SEND],
          [Family.IM, ImType.OFFLINE_MESSAGES_GET],
          [Family.PRESENCE, PresenceType.GET],
        ] as const) {
          const res = await c.request(family, type);
          assert.equal(res.isError, false, `family ${family} type ${type}: error ${res.errorCode}`);
          assert.equal(res.isIndication, false);
        }
        // The connection stays up and keeps being served (purple-impp pings every 30 s).
        assert.equal((await c.ping()).isError, false);
        assert.equal(c.closed, false);
      }
    });
  });
}
