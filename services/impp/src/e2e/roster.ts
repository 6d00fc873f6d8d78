// End to end: contact lists and presence (PROTOCOL.md §4.3, §4.5) with the real client against a
// whole server — embedded, and distributed with each pair of users on different edges.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { befriend, ImppClient, type ResponseFrame } from "@impp/client";
import {
  DeviceTlv,
  DeviceType,
  Family,
  GlobalError,
  ImError,
  ListsError,
  ListsTlv,
  ListsType,
  PresenceTlv,
  PresenceType,
  Status,
  TlvWriter,
} from "@impp/protocol";
import { type ClusterMode, isMultiProcess } from "../testing/cluster.js";
import { e2eHarness, PASSWORD } from "./harness.js";
import { E2E_ENV } from "./suite.js";

const LIST_LIMIT = 5;

const isLists = (type: number) => (f: ResponseFrame) =>
  f.family === Family.LISTS && f.type === type && f.isIndication;
const isPresenceOf = (name: string) => (f: ResponseFrame) =>
  f.family === Family.PRESENCE &&
  f.type === PresenceType.UPDATE &&
  f.isIndication &&
  f.tlvs.string(PresenceTlv.FROM) === name;
const statusIn = (f: ResponseFrame) => f.tlvs.u16(PresenceTlv.STATUS);

export function rosterSuite(mode: ClusterMode): void {
  describe(`contact lists and presence (${mode})`, () => {
    const h = e2eHarness(mode, { ...E2E_ENV, IMPP_LIST_LIMIT: String(LIST_LIMIT) });
    const { newUser, options, login } = h;
    /** Two users logged in on different edges. */
    const pair = async () => {
      const [an, bn] = [await newUser("ann"), await newUser("bob")];
      return { an, bn, a: await login(an, 0), b: await login(bn, 1) };
    };
    const expectOk = (r: ResponseFrame, what: string) =>
      assert.equal(r.isError, false, `${what}: error ${r.errorCode}`);
    const presenceOf = async (c: ImppClient, of: string) => {
      const r = await c.getPresence(of);
      expectOk(r, "PRESENCE GET");
      assert.equal(r.tlvs.string(PresenceTlv.FROM), of);
      return statusIn(r);
    };

    test("add → a pending request on the other side → approve → one way; both ways once both approve", async () => {
      const { an, bn, a, b } = await pair();
      const added = await a.lists(ListsType.CONTACT_ADD, bn, "Bobby");
      expectOk(added, "CONTACT_ADD");
      assert.equal(added.tlvs.string(ListsTlv.CONTACT_ADDRESS), bn);
      const request = await b.nextIndication(isLists(ListsType.CONTACT_AUTH_REQUEST));
      assert.equal(request.tlvs.string(ListsTlv.FROM), an);
      assert.equal(request.tlvs.string(ListsTlv.NICKNAME), "Bobby");
      const bLists = await b.getLists();
      assert.deepEqual(bLists.tlvs.strings(ListsTlv.PENDING_ADDRESS), [an]);
      assert.deepEqual((await a.getLists()).tlvs.strings(ListsTlv.CONTACT_ADDRESS), [bn]);

      expectOk(await b.lists(ListsType.CONTACT_APPROVE, an), "CONTACT_APPROVE");
      const approved = await a.nextIndication(isLists(ListsType.CONTACT_APPROVED));
      assert.equal(approved.tlvs.string(ListsTlv.FROM), bn);
      const seen = await a.nextIndication(isPresenceOf(bn));
      assert.equal(statusIn(seen), Status.ONLINE, "then bob's current presence");
      // One way: ann sees bob, bob does not see ann.
      assert.equal(await presenceOf(a, bn), Status.ONLINE);
      assert.equal(await presenceOf(b, an), Status.OFFLINE);
      assert.deepEqual((await b.getLists()).tlvs.strings(ListsTlv.PENDING_ADDRESS), []);

      expectOk(await b.lists(ListsType.CONTACT_ADD, an), "CONTACT_ADD back");
      await a.nextIndication(isLists(ListsType.CONTACT_AUTH_REQUEST));
      expectOk(await a.lists(ListsType.CONTACT_APPROVE, bn), "CONTACT_APPROVE back");
      assert.equal(statusIn(await b.nextIndication(isPresenceOf(an))), Status.ONLINE);

      // PRESENCE GET without TO: an empty response, then one UPDATE per contact.
      const get = await b.getPresence();
      expectOk(get, "PRESENCE GET");
      assert.equal(get.tlvs.tlvs.length, 0);
      assert.equal(statusIn(await b.nextIndication(isPresenceOf(an))), Status.ONLINE);

      // ann's status changes reach bob; ann goes away entirely: OFFLINE.
      expectOk(await a.setPresence({ status: Status.DND, statusMessage: "busy" }), "PRESENCE SET");
      const dnd = await b.nextIndication(isPresenceOf(an));
      assert.equal(statusIn(dnd), Status.DND);
      assert.equal(dnd.tlvs.string(PresenceTlv.STATUS_MESSAGE), "busy");
      await a.close();
      assert.equal(statusIn(await b.nextIndication(isPresenceOf(an))), Status.OFFLINE);
    });

    test("deny drops the request and the denied user is not told; a request made while offline waits for the next GET", async () => {
      const [cn, dn] = [await newUser("cat"), await newUser("dog")];
      const c = await login(cn, 0);
      expectOk(await c.lists(ListsType.CONTACT_ADD, dn), "CONTACT_ADD of an offline user");
      const d = await login(dn, 1);
      assert.deepEqual((await d.getLists()).tlvs.strings(ListsTlv.PENDING_ADDRESS), [cn]);
      expectOk(await d.lists(ListsType.CONTACT_DENY, cn), "CONTACT_DENY");
      assert.deepEqual((await d.getLists()).tlvs.strings(ListsTlv.PENDING_ADDRESS), []);
      assert.equal(await presenceOf(c, dn), Status.OFFLINE);
      await c.ping();
      assert.equal(
        c.drainIndications().filter((f) => f.family === Family.LISTS).length,
        0,
        "no word of the denial",
      );
    });

    test("removing a contact revokes my approval: they see me OFFLINE", async () => {
      const { an, bn, a, b } = await pair();
      await befriend({ client: a, name: an }, { client: b, name: bn });
      expectOk(await a.lists(ListsType.CONTACT_REMOVE, bn), "CONTACT_REMOVE");
      assert.equal(
        statusIn(await b.nextIndication((f) => isPresenceOf(an)(f) && statusIn(f) === Status.OFFLINE)),
        Status.OFFLINE,
      );
      assert.equal(await presenceOf(b, an), Status.OFFLINE);
      assert.equal(await presenceOf(a, bn), Status.ONLINE, "bob's approval of ann stands");
    });

    test("invisible: OFFLINE to watchers, except those on the allow list", async () => {
      const [an, bn, cn] = [await newUser("inv"), await newUser("out"), await newUser("ins")];
      const a = await login(an, 0);
      const b = await login(bn, 1);
      const c = await login(cn, 1);
      await befriend({ client: a, name: an }, { client: b, name: bn });
      await befriend({ client: a, name: an }, { client: c, name: cn });
      expectOk(await a.lists(ListsType.ALLOW_ADD, cn), "ALLOW_ADD");
      expectOk(await a.setPresence({ status: Status.INVISIBLE }), "PRESENCE SET INVISIBLE");
      await b.nextIndication((f) => isPresenceOf(an)(f) && statusIn(f) === Status.OFFLINE);
      assert.equal(await presenceOf(b, an), Status.OFFLINE);
      assert.equal(await presenceOf(c, an), Status.ONLINE);
      expectOk(await a.lists(ListsType.ALLOW_REMOVE, cn), "ALLOW_REMOVE");
      await c.nextIndication((f) => isPresenceOf(an)(f) && statusIn(f) === Status.OFFLINE);
      assert.equal(await presenceOf(c, an), Status.OFFLINE);
    });

    test("a block hides presence both ways and refuses IM both ways; unblocking restores both", async () => {
      const { an, bn, a, b } = await pair();
      await befriend({ client: a, name: an }, { client: b, name: bn });
      expectOk(await b.lists(ListsType.BLOCK_ADD, an), "BLOCK_ADD");
      await a.nextIndication((f) => isPresenceOf(bn)(f) && statusIn(f) === Status.OFFLINE);
      assert.equal(await presenceOf(a, bn), Status.OFFLINE);
      assert.equal(await presenceOf(b, an), Status.OFFLINE);
      assert.equal((await a.sendIm(bn, "hello?")).errorCode, ImError.USERNAME_BLOCKED);
      assert.equal((await b.sendIm(an, "hello?")).errorCode, ImError.USERNAME_BLOCKED);
      assert.deepEqual((await b.getLists()).tlvs.strings(ListsTlv.BLOCK_ADDRESS), [an]);
      expectOk(await b.lists(ListsType.BLOCK_REMOVE, an), "BLOCK_REMOVE");
      assert.equal(await presenceOf(a, bn), Status.ONLINE);
      expectOk(await a.sendIm(bn, "back"), "IM after unblocking");
    });

    test("device idle and mobile flags drive the advertised status (§4.5)", async () => {
      const [an, bn] = [await newUser("dev"), await newUser("watch")];
      const b = await login(bn, 1);
      const desk = await login(an, 0, "desk");
      await befriend({ client: desk, name: an }, { client: b, name: bn });
      const phone = await ImppClient.connect(options(0));
      h.track(phone);
      expectOk(await phone.authenticate(an, PASSWORD), "AUTHENTICATE");
      expectOk(await phone.bind({ deviceName: "phone", isMobile: true }), "BIND mobile");
      const update = (c: ImppClient, idle: boolean) =>
        c.request(Family.DEVICE, DeviceType.UPDATE, new TlvWriter().u8(DeviceTlv.IS_IDLE, idle ? 1 : 0));
      const next = (status: number) => b.nextIndication((f) => isPresenceOf(an)(f) && statusIn(f) === status);
      expectOk(await update(desk, true), "desk idle");
      await next(Status.MOBILE);
      expectOk(await update(phone, true), "phone idle");
      const away = await next(Status.AWAY);
      assert.equal(away.tlvs.u8(PresenceTlv.IS_STATUS_AUTOMATIC), 1);
      expectOk(await update(desk, false), "desk back");
      await next(Status.ONLINE);
    });

    test("every LISTS error, and hostile addresses and FROM", async () => {
      const { an, bn, a } = await pair();
      const code = async (type: number, address: string) => (await a.lists(type, address)).errorCode;
      assert.equal(await code(ListsType.CONTACT_ADD, an), ListsError.ADDRESS_CONFLICT, "oneself");
      assert.equal(
        await code(ListsType.BLOCK_ADD, an.toUpperCase()),
        ListsError.ADDRESS_CONFLICT,
        "oneself, any case",
      );
      assert.equal(
        await code(ListsType.CONTACT_ADD, "nobody-here"),
        ListsError.ADDRESS_INVALID,
        "no such account",
      );
      assert.equal(await code(ListsType.CONTACT_ADD, "not valid!"), ListsError.ADDRESS_INVALID);
      assert.equal(await code(ListsType.CONTACT_ADD, `${bn}@elsewhere.example`), ListsError.ADDRESS_INVALID);
      assert.equal(await code(ListsType.CONTACT_ADD, "x".repeat(300)), ListsError.ADDRESS_INVALID);
      assert.equal(await code(ListsType.CONTACT_REMOVE, bn), ListsError.ADDRESS_DOES_NOT_EXIST);
      assert.equal(await code(ListsType.CONTACT_APPROVE, bn), ListsError.ADDRESS_DOES_NOT_EXIST);
      assert.equal(await code(ListsType.ALLOW_REMOVE, bn), ListsError.ADDRESS_DOES_NOT_EXIST);
      expectOk(await a.lists(ListsType.BLOCK_ADD, bn), "BLOCK_ADD");
      assert.equal(await code(ListsType.BLOCK_ADD, bn), ListsError.ADDRESS_EXISTS);
      assert.equal(await code(ListsType.CONTACT_ADD, bn), ListsError.ADDRESS_CONFLICT, "blocked by me");
      // The limit (IMPP_LIST_LIMIT here): the allow list fills up.
      for (let i = 0; i < LIST_LIMIT; i++)
        expectOk(await a.lists(ListsType.ALLOW_ADD, await newUser("fill")), "ALLOW_ADD");
      assert.equal(await code(ListsType.ALLOW_ADD, await newUser("over")), ListsError.LIST_LIMIT_EXCEEDED);
      // No address at all; an indication-only type as a request.
      assert.equal(
        (await a.request(Family.LISTS, ListsType.CONTACT_ADD)).errorCode,
        GlobalError.INVALID_TLV_VALUE,
      );
      assert.equal(
        (await a.request(Family.LISTS, ListsType.CONTACT_APPROVED)).errorCode,
        GlobalError.INVALID_TLV_VALUE,
      );
      // The target in TO works, and a forged FROM is ignored: the change is the requester's.
      const cn = await newUser("cee");
      const forged = new TlvWriter().string(ListsTlv.FROM, bn).string(ListsTlv.TO, cn);
      expectOk(await a.request(Family.LISTS, ListsType.CONTACT_ADD, forged), "CONTACT_ADD via TO");
      assert.deepEqual((await a.getLists()).tlvs.strings(ListsTlv.CONTACT_ADDRESS), [cn]);
    });

    test("10,000 LISTS requests pipelined by one client are all answered, and a bystander is served meanwhile", async () => {
      const { an, a, b } = await pair();
      const n = 10_000;
      const answered = new Promise<number>((resolve) => {
        let got = 0;
        const tick = () => {
          got += a.drainUnsolicited().length;
          if (got >= n) resolve(got);
          else setTimeout(tick, 20);
        };
        tick();
      });
      for (let i = 0; i < n; i++) {
        a.send(
          Family.LISTS,
          i % 2 === 0 ? ListsType.GET : ListsType.CONTACT_REMOVE,
          new TlvWriter().string(ListsTlv.CONTACT_ADDRESS, an),
        );
      }
      // The bystander's requests are answered while the flood is being worked through.
      expectOk(await b.ping(), "bystander PING");
      expectOk(await b.getLists(), "bystander LISTS GET");
      assert.equal(await answered, n);
      expectOk(await a.ping(), "the flooder's session goes on");
    });

    if (isMultiProcess(mode)) {
      test("a killed edge turns its users OFFLINE for their watchers", async () => {
        const [an, bn] = [await newUser("doomed"), await newUser("watcher")];
        const w = await login(bn, 0);
        const d = await login(an, 1);
        await befriend({ client: d, name: an }, { client: w, name: bn });
        // Settle first: while befriending, the watcher may briefly be told OFFLINE (its own add
        // landed before the other side's approval) — only an OFFLINE after the kill counts.
        assert.equal(await presenceOf(w, an), Status.ONLINE);
        await w.ping();
        w.drainIndications();
        await h.cluster.killEdge(1, "SIGKILL");
        // An OFFLINE update after which the watcher's own query agrees (a late one from the
        // befriending may come first; it is followed by the one the kill causes).
        for (;;) {
          await w.nextIndication((f) => isPresenceOf(an)(f) && statusIn(f) === Status.OFFLINE, 15_000);
          if ((await presenceOf(w, an)) === Status.OFFLINE) break;
        }
      });
    }
  });
}
