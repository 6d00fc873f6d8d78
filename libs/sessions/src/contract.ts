import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type DeviceRecord, SessionError, type SessionStore } from "./types.js";

const uid = () => randomBytes(6).toString("hex");

function sample(account: string, over: Partial<DeviceRecord> = {}): Omit<DeviceRecord, "name"> {
  return {
    account,
    edgeId: "edge-a",
    connId: uid(),
    remoteAddress: "192.0.2.1:50000",
    connectedAt: 1_700_000_000_000,
    status: 1,
    capabilities: [1, 2],
    isIdle: false,
    isMobile: false,
    isStatusAutomatic: false,
    ...over,
  };
}

async function bound(store: SessionStore, rec: Omit<DeviceRecord, "name">, wish: string, max = 10) {
  const r = await store.bindDevice(rec, wish, max);
  if (!r.ok) assert.fail(`bind failed: ${r.error.message}`);
  return r;
}

/**
 * The behaviour every SessionStore must have. `make` returns a fresh store
 * (possibly sharing state with earlier ones — tests use unique names); each
 * test closes the store it made.
 */
export function runSessionStoreContract(name: string, make: () => Promise<SessionStore>): void {
  const withStore = (title: string, fn: (s: SessionStore) => Promise<void>) =>
    test(title, async () => {
      const s = await make();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  describe(`SessionStore contract: ${name}`, () => {
    describe("binding", () => {
      withStore("bind returns the device and all the account's devices", async (s) => {
        const acc = `a-${uid()}`;
        const first = await bound(s, sample(acc, { connectedAt: 1000 }), "phone");
        assert.equal(first.device.name, "phone");
        assert.deepEqual(first.devices, [first.device]);
        const second = await bound(s, sample(acc, { connectedAt: 2000 }), "laptop");
        assert.deepEqual(
          second.devices.map((d) => d.name),
          ["phone", "laptop"],
        );
        assert.deepEqual(await s.getDevices(acc), second.devices);
        assert.deepEqual(await s.getDevice(acc, "laptop"), second.device);
      });

      withStore("a colliding wish gets -2, -3…; a freed name is reused", async (s) => {
        const acc = `a-${uid()}`;
        const names: string[] = [];
        for (let i = 0; i < 4; i++) names.push((await bound(s, sample(acc), "laptop")).device.name);
        assert.deepEqual(names, ["laptop", "laptop-2", "laptop-3", "laptop-4"]);
        await s.unbindDevice(acc, "laptop-2");
        assert.equal((await bound(s, sample(acc), "laptop")).device.name, "laptop-2");
        // The suffix applies to the wish as given, even one that looks suffixed.
        assert.equal((await bound(s, sample(acc), "laptop-3")).device.name, "laptop-3-2");
      });

      withStore("names stay within 64 characters, counted in code points", async (s) => {
        const acc = `a-${uid()}`;
        const long = "x".repeat(70);
        const a = await bound(s, sample(acc), long);
        assert.equal(a.device.name, "x".repeat(64));
        const b = await bound(s, sample(acc), long);
        assert.equal(b.device.name, `${"x".repeat(62)}-2`);
        const emoji = "😀".repeat(64);
        const c = await bound(s, sample(acc), emoji);
        assert.equal(c.device.name, emoji);
        const d = await bound(s, sample(acc), emoji);
        assert.equal(d.device.name, `${"😀".repeat(62)}-2`);
        assert.equal([...d.device.name].length, 64);
        assert.equal((await bound(s, sample(acc), "   ")).device.name, "device");
      });

      withStore("the device limit is per account", async (s) => {
        const acc = `a-${uid()}`;
        await bound(s, sample(acc), "one", 2);
        await bound(s, sample(acc), "two", 2);
        const third = await s.bindDevice(sample(acc), "three", 2);
        assert.equal(third.ok, false);
        if (!third.ok) {
          assert.ok(third.error instanceof SessionError);
          assert.equal(third.error.kind, "TOO_MANY_DEVICES");
        }
        assert.equal((await s.getDevices(acc)).length, 2);
        await bound(s, sample(`b-${uid()}`), "three", 2);
        // A lowered limit refuses binds while the account is over it.
        assert.equal((await s.bindDevice(sample(acc), "x", 1)).ok, false);
      });

      withStore("concurrent binds of one wish: distinct names, never over the limit", async (s) => {
        const acc = `a-${uid()}`;
        const results = await Promise.all(
          Array.from({ length: 15 }, () => s.bindDevice(sample(acc), "pc", 10)),
        );
        const ok = results.filter((r) => r.ok);
        const refused = results.filter((r) => !r.ok);
        assert.equal(ok.length, 10);
        assert.equal(refused.length, 5);
        for (const r of refused) if (!r.ok) assert.equal(r.error.kind, "TOO_MANY_DEVICES");
        const names = ok.map((r) => (r.ok ? r.device.name : ""));
        assert.equal(new Set(names).size, 10);
        assert.deepEqual([...names].sort(), [
          "pc",
          "pc-10",
          "pc-2",
          "pc-3",
          "pc-4",
          "pc-5",
          "pc-6",
          "pc-7",
          "pc-8",
          "pc-9",
        ]);
        assert.equal((await s.getDevices(acc)).length, 10);
      });

      withStore("an unstorable record is refused with INVALID_RECORD", async (s) => {
        const acc = `a-${uid()}`;
        await assert.rejects(
          s.bindDevice(sample(acc, { status: 70000 }), "x", 10),
          (e: unknown) => e instanceof SessionError && e.kind === "INVALID_RECORD",
        );
        await assert.rejects(
          s.bindDevice(sample(acc, { clientDescription: "é".repeat(40000) }), "x", 10),
          (e: unknown) => e instanceof SessionError && e.kind === "INVALID_RECORD",
        );
        assert.deepEqual(await s.getDevices(acc), []);
      });
    });

    describe("records", () => {
      withStore("binary round trip with every optional field and unicode", async (s) => {
        const acc = `ü-${uid()}`;
        const rec = sample(acc, {
          edgeId: "edge-ü",
          connId: "conn-😀",
          remoteAddress: "[2001:db8::1]:443",
          connectedAt: 1_723_456_789_123,
          clientName: "Trillian",
          clientPlatform: "Windows",
          clientModel: "Surface 📱",
          clientArch: "x86_64",
          clientVersion: "6.5.0.1",
          clientBuild: "b12",
          clientDescription: "客户端 — \u0000 nul inside",
          status: 65535,
          statusMessage: "привет 👋",
          capabilities: [0, 1, 65535, 300],
          isIdle: true,
          isMobile: true,
          isStatusAutomatic: true,
          server: "edge-ü.example:3158",
        });
        const r = await bound(s, rec, "Zimmer-Rechner 🖥");
        const expected = { ...rec, name: "Zimmer-Rechner 🖥" };
        assert.deepEqual(r.device, expected);
        assert.deepEqual(await s.getDevice(acc, "Zimmer-Rechner 🖥"), expected);
        assert.deepEqual(await s.getDevices(acc), [expected]);
      });

      withStore("absent optional fields stay absent; empty strings stay empty", async (s) => {
        const acc = `a-${uid()}`;
        const rec = sample(acc, { capabilities: [], status: 0, clientName: "", statusMessage: "" });
        const r = await bound(s, rec, "d");
        assert.deepEqual(r.device, { ...rec, name: "d" });
        assert.equal("clientModel" in r.device, false);
      });

      withStore("returned records are copies", async (s) => {
        const acc = `a-${uid()}`;
        const r = await bound(s, sample(acc), "d");
        r.device.capabilities.push(99);
        r.device.status = 3;
        const again = await s.getDevice(acc, "d");
        assert.deepEqual(again?.capabilities, [1, 2]);
        assert.equal(again?.status, 1);
      });

      withStore("update patches only the given fields", async (s) => {
        const acc = `a-${uid()}`;
        const r = await bound(s, sample(acc, { statusMessage: "hi", clientName: "c" }), "d");
        const u = await s.updateDevice(acc, "d", { status: 2, isIdle: true, capabilities: [7] });
        const expected = { ...r.device, status: 2, isIdle: true, capabilities: [7] };
        assert.deepEqual(u, expected);
        assert.deepEqual(await s.getDevice(acc, "d"), expected);
        const v = await s.updateDevice(acc, "d", {
          isMobile: true,
          isStatusAutomatic: true,
          statusMessage: "bye",
        });
        assert.deepEqual(v, { ...expected, isMobile: true, isStatusAutomatic: true, statusMessage: "bye" });
        // An explicit undefined clears the status message.
        const w = await s.updateDevice(acc, "d", { statusMessage: undefined });
        assert.equal(w !== undefined && "statusMessage" in w, false);
        assert.equal((await s.getDevice(acc, "d"))?.statusMessage, undefined);
        assert.equal(await s.updateDevice(acc, "nope", { status: 1 }), undefined);
        assert.equal(await s.updateDevice(`z-${uid()}`, "d", { status: 1 }), undefined);
        await assert.rejects(
          s.updateDevice(acc, "d", { capabilities: [70000] }),
          (e: unknown) => e instanceof SessionError && e.kind === "INVALID_RECORD",
        );
      });

      withStore("getDevices: unknown account is empty; order is by connectedAt then name", async (s) => {
        assert.deepEqual(await s.getDevices(`nobody-${uid()}`), []);
        assert.equal(await s.getDevice(`nobody-${uid()}`, "x"), undefined);
        const acc = `a-${uid()}`;
        await bound(s, sample(acc, { connectedAt: 30 }), "c");
        await bound(s, sample(acc, { connectedAt: 10 }), "b");
        await bound(s, sample(acc, { connectedAt: 10 }), "a");
        assert.deepEqual(
          (await s.getDevices(acc)).map((d) => d.name),
          ["a", "b", "c"],
        );
      });
    });

    describe("getDevicesMany", () => {
      withStore(
        "reads several accounts at once, in the order asked, repeats and unknowns included",
        async (s) => {
          const a = `a-${uid()}`;
          const b = `b-${uid()}`;
          await bound(s, sample(a, { connectedAt: 20 }), "y");
          await bound(s, sample(a, { connectedAt: 10 }), "x");
          await bound(s, sample(b), "phone");
          const [ra, rn, rb, ra2] = await s.getDevicesMany([a, `nobody-${uid()}`, b, a]);
          assert.deepEqual(ra, await s.getDevices(a));
          assert.deepEqual(
            ra?.map((d) => d.name),
            ["x", "y"],
          );
          assert.deepEqual(rn, []);
          assert.deepEqual(rb, await s.getDevices(b));
          assert.deepEqual(ra2, ra);
          assert.notEqual(ra2, ra);
          assert.deepEqual(await s.getDevicesMany([]), []);
        },
      );
    });

    describe("list tokens and presence", () => {
      withStore("a token is made on first read, stays until bumped, and changes when bumped", async (s) => {
        const a = `a-${uid()}`;
        const b = `b-${uid()}`;
        const [ta, tb] = await s.listTokens([a, b]);
        assert.ok(ta && tb);
        assert.notEqual(ta, tb);
        assert.deepEqual(await s.listTokens([b, a]), [tb, ta]);
        await s.bumpListTokens([a]);
        const [ta2, tb2] = await s.listTokens([a, b]);
        assert.notEqual(ta2, ta);
        assert.equal(tb2, tb);
        await s.bumpListTokens([]);
        assert.deepEqual(await s.listTokens([]), []);
      });

      withStore("devices and list tokens in one read", async (s) => {
        const a = `a-${uid()}`;
        const b = `b-${uid()}`;
        await bound(s, sample(a), "desk");
        const r = await s.getDevicesAndListTokens([a, b], [a]);
        assert.deepEqual(
          r.devices.map((l) => l.map((d) => d.name)),
          [["desk"], []],
        );
        assert.deepEqual(r.tokens, await s.listTokens([a]));
      });

      withStore("the message path's read follows every change of the devices", async (s) => {
        // The in-process store keeps a decoded snapshot per account for this read: each kind of
        // write must drop it, or messages would go to devices that left or miss ones that came.
        const a = `a-${uid()}`;
        const names = async () =>
          (await s.getDevicesAndListTokens([a], [])).devices[0]!.map((d) => `${d.name}:${d.status}`);
        assert.deepEqual(await names(), []);
        const desk = await bound(s, sample(a), "desk");
        assert.deepEqual(await names(), ["desk:1"]);
        await bound(s, sample(a, { connectedAt: desk.device.connectedAt + 1 }), "phone");
        assert.deepEqual(await names(), ["desk:1", "phone:1"]);
        await s.updateDevice(a, "desk", { status: 2 });
        assert.deepEqual(await names(), ["desk:2", "phone:1"]);
        await s.unbindDevice(a, "desk");
        assert.deepEqual(await names(), ["phone:1"]);
        assert.equal(await s.restoreDevice({ ...desk.device, status: 3 }), "restored");
        assert.deepEqual(await names(), ["desk:3", "phone:1"]);
        await s.unbindDevice(a, "desk");
        await s.unbindDevice(a, "phone");
        assert.deepEqual(await names(), []);
      });

      withStore("the message path's records cannot be changed through a reader", async (s) => {
        const a = `a-${uid()}`;
        await bound(s, sample(a), "desk");
        const [d] = (await s.getDevicesAndListTokens([a], [])).devices[0]!;
        // Frozen (in-process) or a fresh copy (Redis): either way the store keeps what it had.
        try {
          (d as { status: number }).status = 9;
          (d!.capabilities as number[]).push(99);
        } catch (e) {
          assert.ok(e instanceof TypeError, String(e));
        }
        const [again] = (await s.getDevicesAndListTokens([a], [])).devices[0]!;
        assert.equal(again!.status, 1);
        assert.deepEqual(again!.capabilities, [1, 2]);
        assert.equal((await s.getDevice(a, "desk"))?.status, 1);
      });

      withStore("presence records round-trip; unknown users have none", async (s) => {
        const a = `a-${uid()}`;
        const rec = {
          status: 2,
          statusMessage: "lunch ☕",
          nickname: "A",
          avatarSha1: "ab".repeat(20),
          advertised: "x",
        };
        await s.setPresence(a, rec);
        assert.deepEqual(await s.getPresence([a, `nobody-${uid()}`]), [rec, undefined]);
        await s.setPresence(a, { status: 1 });
        assert.deepEqual(await s.getPresence([a]), [{ status: 1 }]);
        assert.deepEqual(await s.getPresence([]), []);
      });
    });

    describe("unbinding", () => {
      withStore("unbind with the binding connId, without, and with a stale one", async (s) => {
        const acc = `a-${uid()}`;
        const a = await bound(s, sample(acc, { connId: "c1" }), "a");
        await bound(s, sample(acc, { connId: "c2" }), "b");
        assert.equal(await s.unbindDevice(acc, "a", "other"), undefined);
        assert.equal((await s.getDevices(acc)).length, 2);
        assert.deepEqual(await s.unbindDevice(acc, "a", "c1"), a.device);
        assert.equal(await s.getDevice(acc, "a"), undefined);
        const b = await s.unbindDevice(acc, "b");
        assert.equal(b?.connId, "c2");
        assert.deepEqual(await s.getDevices(acc), []);
        assert.equal(await s.unbindDevice(acc, "b"), undefined);
      });

      withStore("a late close of an old connection leaves the newer device of that name", async (s) => {
        const acc = `a-${uid()}`;
        await bound(s, sample(acc, { connId: "old" }), "pc");
        await s.unbindDevice(acc, "pc"); // e.g. UNBIND from another device
        const fresh = await bound(s, sample(acc, { connId: "new" }), "pc");
        assert.equal(fresh.device.name, "pc");
        assert.equal(await s.unbindDevice(acc, "pc", "old"), undefined);
        assert.deepEqual(await s.getDevice(acc, "pc"), fresh.device);
      });
    });

    describe("edges", () => {
      withStore("heartbeatEdge says whether the edge was registered before", async (s) => {
        const e = `hb-${uid()}`;
        assert.equal(await s.heartbeatEdge(e, 60_000), false, "first heartbeat");
        assert.equal(await s.heartbeatEdge(e, 60_000), true);
        // Swept as dead and forgotten (or the store lost it): the next heartbeat says so.
        await s.expireEdge(e);
        await s.forgetEdge(e);
        assert.equal(await s.heartbeatEdge(e, 60_000), false);
      });

      withStore("restoreDevice puts a lost device back under its name, never over another", async (s) => {
        const acc = `a-${uid()}`;
        const e = `e-${uid()}`;
        await s.heartbeatEdge(e, 60_000);
        const r = await bound(s, sample(acc, { edgeId: e, connId: "k1", statusMessage: "out" }), "phone");
        const record = r.device;
        assert.equal(await s.restoreDevice(record), "present");
        // Lost (as after a Redis restart): the record comes back as it was, index included.
        await s.unbindDevice(acc, "phone");
        assert.deepEqual(await s.devicesOfEdge(e), []);
        assert.equal(await s.restoreDevice(record), "restored");
        assert.deepEqual(await s.getDevice(acc, "phone"), record);
        assert.deepEqual(await s.devicesOfEdge(e), [{ account: acc, name: "phone", connId: "k1" }]);
        // The name was taken by another connection meanwhile: left alone.
        await s.unbindDevice(acc, "phone");
        await bound(s, sample(acc, { edgeId: e, connId: "k2" }), "phone");
        assert.equal(await s.restoreDevice(record), "taken");
        assert.equal((await s.getDevice(acc, "phone"))?.connId, "k2");
        // Restoring ignores the device limit (it was bound within it).
        const other = { ...record, name: "desk", connId: "k3" };
        assert.equal(await s.restoreDevice(other), "restored");
        assert.deepEqual(
          (await s.getDevices(acc)).map((d) => d.name),
          ["desk", "phone"],
        );
      });

      withStore("devicesOfEdge follows bind and unbind", async (s) => {
        const acc = `a-${uid()}`;
        const e1 = `e1-${uid()}`;
        const e2 = `e2-${uid()}`;
        await s.heartbeatEdge(e1, 60_000);
        await s.heartbeatEdge(e2, 60_000);
        await bound(s, sample(acc, { edgeId: e1, connId: "k1" }), "x");
        await bound(s, sample(acc, { edgeId: e1, connId: "k2" }), "x");
        await bound(s, sample(acc, { edgeId: e2, connId: "k3" }), "x");
        const sort = (l: Array<{ account: string; name: string; connId: string }>) =>
          [...l].sort((p, q) => (p.name < q.name ? -1 : 1));
        assert.deepEqual(sort(await s.devicesOfEdge(e1)), [
          { account: acc, name: "x", connId: "k1" },
          { account: acc, name: "x-2", connId: "k2" },
        ]);
        assert.deepEqual(await s.devicesOfEdge(e2), [{ account: acc, name: "x-3", connId: "k3" }]);
        await s.unbindDevice(acc, "x", "k1");
        await s.unbindDevice(acc, "x-3", "wrong");
        assert.deepEqual(await s.devicesOfEdge(e1), [{ account: acc, name: "x-2", connId: "k2" }]);
        assert.deepEqual(await s.devicesOfEdge(e2), [{ account: acc, name: "x-3", connId: "k3" }]);
        // The freed name is rebound on the other edge: the index moves with it.
        await bound(s, sample(acc, { edgeId: e2, connId: "k4" }), "x");
        assert.deepEqual(sort(await s.devicesOfEdge(e2)), [
          { account: acc, name: "x", connId: "k4" },
          { account: acc, name: "x-3", connId: "k3" },
        ]);
        await s.updateDevice(acc, "x", { status: 2 });
        assert.equal((await s.devicesOfEdge(e2)).length, 2);
        assert.deepEqual(await s.devicesOfEdge(`unknown-${uid()}`), []);
      });

      withStore("an edge past its TTL is dead until it heartbeats again", async (s) => {
        const live = `live-${uid()}`;
        const dying = `dying-${uid()}`;
        await s.heartbeatEdge(live, 60_000);
        await s.heartbeatEdge(dying, 15);
        await sleep(40);
        let dead = await s.deadEdges();
        assert.ok(dead.includes(dying), "expired edge is dead");
        assert.ok(!dead.includes(live), "fresh edge is alive");
        assert.ok((await s.deadEdges(Date.now() + 120_000)).includes(live), "dead once its TTL passes");
        await s.heartbeatEdge(dying, 60_000);
        dead = await s.deadEdges();
        assert.ok(!dead.includes(dying), "a heartbeat revives it");
      });

      withStore("removeEdge forgets an empty edge and marks one with devices dead", async (s) => {
        const empty = `empty-${uid()}`;
        const busy = `busy-${uid()}`;
        await s.heartbeatEdge(empty, 60_000);
        await s.heartbeatEdge(busy, 60_000);
        await bound(s, sample(`a-${uid()}`, { edgeId: busy }), "d");
        await s.removeEdge(empty);
        await s.removeEdge(busy);
        const dead = await s.deadEdges(Date.now() + 3_600_000);
        assert.ok(!dead.includes(empty), "a cleanly removed edge is gone");
        assert.ok((await s.deadEdges()).includes(busy), "leftover devices make it dead now");
      });

      withStore("edgesWithPrefix lists an edge's incarnations; expireEdge makes one dead now", async (s) => {
        const prefix = `host-${uid()}`;
        const a = `${prefix}-aaaaaaaaaa`;
        const b = `${prefix}-bbbbbbbbbb`;
        const other = `${prefix}x-cccccccccc`;
        for (const e of [a, b, other]) await s.heartbeatEdge(e, 60_000);
        assert.deepEqual(await s.edgesWithPrefix(prefix), [a, b]);
        await bound(s, sample(`a-${uid()}`, { edgeId: a }), "d");
        await s.expireEdge(a);
        const dead = await s.deadEdges();
        assert.ok(dead.includes(a), "expired now");
        assert.ok(!dead.includes(b), "its sibling is untouched");
        assert.equal((await s.devicesOfEdge(a)).length, 1, "its devices wait for the sweep");
        await s.expireEdge(`${prefix}-notthere00`);
        assert.deepEqual(
          await s.edgesWithPrefix(prefix),
          [a, b],
          "expiring an unknown edge registers nothing",
        );
      });

      withStore("one holder at a time claims an edge's cleanup", async (s) => {
        const edge = `e-${uid()}`;
        assert.equal(await s.claimEdgeCleanup(edge, "p1", 60_000), true);
        assert.equal(await s.claimEdgeCleanup(edge, "p2", 60_000), false);
        assert.equal(await s.claimEdgeCleanup(edge, "p1", 60_000), true, "the holder may renew");
        const results = await Promise.all(
          ["q1", "q2", "q3", "q4"].map((h) => s.claimEdgeCleanup(`r-${edge}`, h, 60_000)),
        );
        assert.equal(results.filter(Boolean).length, 1, "exactly one concurrent claimer wins");
        const short = `s-${uid()}`;
        assert.equal(await s.claimEdgeCleanup(short, "p1", 15), true);
        await sleep(40);
        assert.equal(await s.claimEdgeCleanup(short, "p2", 60_000), true, "an expired claim can be taken");
      });

      withStore("forgetEdge drops a dead edge's heartbeat, index and claim", async (s) => {
        const edge = `e-${uid()}`;
        const acc = `a-${uid()}`;
        await s.heartbeatEdge(edge, 10);
        await bound(s, sample(acc, { edgeId: edge, connId: "c" }), "d");
        await sleep(30);
        assert.ok((await s.deadEdges()).includes(edge));
        assert.equal(await s.claimEdgeCleanup(edge, "p1", 60_000), true);
        const devices = await s.devicesOfEdge(edge);
        for (const d of devices) await s.unbindDevice(d.account, d.name, d.connId);
        await s.forgetEdge(edge);
        assert.ok(!(await s.deadEdges(Date.now() + 3_600_000)).includes(edge));
        assert.deepEqual(await s.devicesOfEdge(edge), []);
        assert.deepEqual(await s.getDevices(acc), []);
        assert.equal(await s.claimEdgeCleanup(edge, "p2", 60_000), true, "the claim went with it");
      });

      withStore("forgetEdge keeps an edge that came back to life", async (s) => {
        const edge = `e-${uid()}`;
        await s.heartbeatEdge(edge, 60_000);
        await bound(s, sample(`a-${uid()}`, { edgeId: edge }), "d");
        await s.forgetEdge(edge);
        assert.equal((await s.devicesOfEdge(edge)).length, 1);
        assert.ok((await s.deadEdges(Date.now() + 3_600_000)).includes(edge), "heartbeat kept");
      });
    });

    describe("rate limits (sliding log)", () => {
      withStore("hits are allowed up to the limit, then refused with a retry delay", async (s) => {
        const key = `login:${uid()}`;
        const got = [];
        for (let i = 0; i < 4; i++) got.push(await s.hit(key, 60_000, 3));
        assert.deepEqual(
          got.map((r) => [r.allowed, r.count]),
          [
            [true, 1],
            [true, 2],
            [true, 3],
            [false, 3],
          ],
        );
        assert.equal(got[0]?.retryAfterMs, 0);
        const last = got[3]!;
        assert.ok(last.retryAfterMs > 0 && last.retryAfterMs <= 60_000, `retryAfterMs ${last.retryAfterMs}`);
        assert.deepEqual(await s.peek(key, 60_000, 3), { allowed: false, count: 3 });
        assert.deepEqual(await s.peek(key, 60_000, 4), { allowed: true, count: 3 });
        assert.deepEqual(await s.peek(`other:${uid()}`, 60_000, 3), { allowed: true, count: 0 });
      });

      withStore(
        "hitDistinct counts distinct members: a member seen again is allowed and not counted twice",
        async (s) => {
          const key = `addr:${uid()}`;
          const got = [];
          for (const m of ["a", "b", "a", "c", "a", "d", "c"])
            got.push(await s.hitDistinct(key, m, 60_000, 3));
          assert.deepEqual(
            got.map((r) => [r.allowed, r.count]),
            [
              [true, 1],
              [true, 2],
              [true, 2],
              [true, 3],
              [true, 3],
              [false, 3],
              [true, 3],
            ],
          );
          const refused = got[5]!;
          assert.ok(
            refused.retryAfterMs > 0 && refused.retryAfterMs <= 60_000,
            `retryAfterMs ${refused.retryAfterMs}`,
          );
          assert.deepEqual(await s.peekDistinct(key, "a", 60_000), { count: 3, present: true });
          assert.deepEqual(await s.peekDistinct(key, "d", 60_000), { count: 3, present: false });
          assert.deepEqual(await s.peekDistinct(`none:${uid()}`, "a", 60_000), { count: 0, present: false });
        },
      );

      withStore("hitDistinct: members leave the window windowMs after they were last seen", async (s) => {
        const key = `addr:${uid()}`;
        await s.hitDistinct(key, "a", 600, 2);
        await sleep(250);
        await s.hitDistinct(key, "b", 600, 2);
        await s.hitDistinct(key, "a", 600, 2); // refreshed
        await sleep(450);
        // "a" was refreshed: it and "b" are both still inside the window, no room for "c".
        assert.equal((await s.hitDistinct(key, "c", 600, 2)).allowed, false);
        await sleep(650);
        assert.deepEqual(await s.peekDistinct(key, "a", 600), { count: 0, present: false });
        assert.equal((await s.hitDistinct(key, "c", 600, 2)).allowed, true);
      });

      withStore("a mark lives for its TTL; marking again extends it; resetKey drops it", async (s) => {
        const key = `good:${uid()}`;
        assert.equal(await s.marked(key), false);
        await s.mark(key, 500);
        assert.equal(await s.marked(key), true);
        await sleep(300);
        await s.mark(key, 500);
        await sleep(300);
        assert.equal(await s.marked(key), true, "extended");
        await sleep(550);
        assert.equal(await s.marked(key), false);
        await s.mark(key, 60_000);
        await s.resetKey(key);
        assert.equal(await s.marked(key), false);
      });

      withStore("peek does not count", async (s) => {
        const key = `k:${uid()}`;
        for (let i = 0; i < 5; i++) await s.peek(key, 60_000, 1);
        assert.deepEqual(await s.hit(key, 60_000, 1), { allowed: true, count: 1, retryAfterMs: 0 });
      });

      withStore("hits leave the window after windowMs", async (s) => {
        const key = `k:${uid()}`;
        assert.equal((await s.hit(key, 20, 1)).allowed, true);
        assert.equal((await s.hit(key, 20, 1)).allowed, false);
        await sleep(45);
        assert.deepEqual(await s.peek(key, 20, 1), { allowed: true, count: 0 });
        assert.equal((await s.hit(key, 20, 1)).allowed, true);
      });

      withStore("resetKey clears the count", async (s) => {
        const key = `k:${uid()}`;
        await s.hit(key, 60_000, 1);
        assert.equal((await s.hit(key, 60_000, 1)).allowed, false);
        await s.resetKey(key);
        assert.deepEqual(await s.hit(key, 60_000, 1), { allowed: true, count: 1, retryAfterMs: 0 });
        await s.resetKey(`never-${uid()}`);
      });

      withStore("concurrent hits never exceed the limit", async (s) => {
        const key = `k:${uid()}`;
        const r = await Promise.all(Array.from({ length: 20 }, () => s.hit(key, 60_000, 7)));
        assert.equal(r.filter((x) => x.allowed).length, 7);
        assert.deepEqual(
          r
            .filter((x) => x.allowed)
            .map((x) => x.count)
            .sort((a, b) => a - b),
          [1, 2, 3, 4, 5, 6, 7],
        );
      });
    });

    describe("lifecycle", () => {
      test("a closed store rejects with UNAVAILABLE", async () => {
        const s = await make();
        await s.ping();
        await s.close();
        await assert.rejects(
          s.getDevices("x"),
          (e: unknown) => e instanceof SessionError && e.kind === "UNAVAILABLE",
        );
      });
    });
  });
}
