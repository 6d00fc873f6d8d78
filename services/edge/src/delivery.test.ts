import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DeliveryFilter } from "@impp/bus";
import { Flags, TlvWriter } from "@impp/protocol";
import { AccountIndex, type DeliveryTarget, deliver, matchesFilter } from "./delivery.js";
import type { OutFrames } from "./frames.js";

class Target implements DeliveryTarget {
  got: OutFrames[] = [];
  closedAfter = false;
  constructor(
    readonly device: string,
    readonly capabilities: readonly number[],
    private readonly open = true,
  ) {}
  deliver(frames: OutFrames, closeAfter: boolean): boolean {
    if (!this.open) return false;
    this.got.push(frames);
    this.closedAfter = closeAfter;
    return true;
  }
}

const frames = new TlvWriter()
  .string(1, "x")
  .frame({ flags: Flags.INDICATION, family: 4, type: 3, sequence: 0 });

describe("matchesFilter", () => {
  const t = { device: "laptop", capabilities: [1, 2] };
  test("device filters", () => {
    assert.equal(matchesFilter(t, DeliveryFilter.ALL, "", 0), true);
    assert.equal(matchesFilter(t, DeliveryFilter.ONLY_DEVICE, "laptop", 0), true);
    assert.equal(matchesFilter(t, DeliveryFilter.ONLY_DEVICE, "phone", 0), false);
    assert.equal(matchesFilter(t, DeliveryFilter.EXCEPT_DEVICE, "laptop", 0), false);
    assert.equal(matchesFilter(t, DeliveryFilter.EXCEPT_DEVICE, "phone", 0), true);
  });
  test("capability filter", () => {
    assert.equal(matchesFilter(t, DeliveryFilter.ALL, "", 2), true);
    assert.equal(matchesFilter(t, DeliveryFilter.ALL, "", 3), false);
    assert.equal(matchesFilter({ device: "d", capabilities: [] }, DeliveryFilter.ALL, "", 1), false);
  });
});

describe("AccountIndex and deliver", () => {
  test("writes only to the account's matching connections and counts them", async () => {
    const index = new AccountIndex<DeliveryTarget>();
    const laptop = new Target("laptop", [1]);
    const phone = new Target("phone", [1, 2]);
    const gone = new Target("old", [1], false);
    const other = new Target("laptop", [1]);
    index.add("tricia", laptop);
    index.add("tricia", phone);
    index.add("tricia", gone);
    index.add("zaphod", other);
    const env = {
      account: "tricia",
      filter: DeliveryFilter.EXCEPT_DEVICE,
      device: "laptop",
      capability: 0,
      closeAfter: false,
      frames,
    };
    assert.deepEqual(await deliver(env, index), { ok: true, delivered: 1 });
    assert.equal(laptop.got.length, 0);
    assert.equal(phone.got.length, 1);
    assert.equal(other.got.length, 0);
    assert.deepEqual(
      await deliver({ ...env, filter: DeliveryFilter.ALL, device: "", capability: 2 }, index),
      {
        ok: true,
        delivered: 1,
      },
    );
    assert.deepEqual(await deliver({ ...env, account: "nobody" }, index), { ok: true, delivered: 0 });
    assert.deepEqual(await deliver({ ...env, filter: DeliveryFilter.ONLY_DEVICE, closeAfter: true }, index), {
      ok: true,
      delivered: 1,
    });
    assert.equal(laptop.closedAfter, true);
  });

  test("the device filter applies to the first account only; the others get every connection", async () => {
    const index = new AccountIndex<DeliveryTarget>();
    const senderLaptop = new Target("laptop", [1]);
    const senderPhone = new Target("phone", [1]);
    const memberLaptop = new Target("laptop", [1]);
    index.add("tricia", senderLaptop);
    index.add("tricia", senderPhone);
    index.add("zaphod", memberLaptop);
    const env = {
      account: "tricia",
      others: ["zaphod"],
      filter: DeliveryFilter.EXCEPT_DEVICE,
      device: "laptop",
      capability: 0,
      closeAfter: false,
      frames,
    };
    assert.deepEqual(await deliver(env, index), { ok: true, delivered: 2 });
    assert.equal(senderLaptop.got.length, 0);
    assert.equal(senderPhone.got.length, 1);
    assert.equal(memberLaptop.got.length, 1, "another account's device of the same name");
  });

  test("bad frames are refused, not written", async () => {
    const index = new AccountIndex<DeliveryTarget>();
    const t = new Target("d", []);
    index.add("a", t);
    const out = await deliver(
      {
        account: "a",
        filter: 0,
        device: "",
        capability: 0,
        closeAfter: false,
        frames: frames.subarray(0, 20),
      },
      index,
    );
    assert.equal(out.ok, false);
    assert.equal(t.got.length, 0);
  });

  test("add is idempotent, remove forgets empty accounts", () => {
    const index = new AccountIndex<string>();
    index.add("a", "c1");
    index.add("a", "c1");
    index.add("a", "c2");
    assert.deepEqual(index.get("a"), ["c1", "c2"]);
    index.remove("a", "c1");
    index.remove("a", "c9");
    assert.deepEqual(index.get("a"), ["c2"]);
    index.remove("a", "c2");
    assert.equal(index.get("a"), undefined);
    assert.equal(index.size, 0);
  });
});

describe("a delivery is acknowledged once the kernel took it", () => {
  class Slow implements DeliveryTarget {
    readonly device = "slow";
    readonly capabilities = [1];
    cut = false;
    resolveTaken: ((ok: boolean) => void) | undefined;
    constructor(private readonly takes: boolean | "never") {}
    deliver(): Promise<boolean> {
      return new Promise((resolve) => {
        this.resolveTaken = resolve;
        if (this.takes !== "never") setImmediate(() => resolve(this.takes as boolean));
      });
    }
    cutOff(): void {
      this.cut = true;
      this.resolveTaken?.(false);
    }
  }
  const env = {
    account: "tricia",
    filter: DeliveryFilter.ALL,
    device: "",
    capability: 1,
    closeAfter: false,
    frames,
  };

  test("taken counts, closed first does not, and one that never takes it is cut off at the deadline", async () => {
    const index = new AccountIndex<DeliveryTarget>();
    const taken = new Slow(true);
    const closed = new Slow(false);
    const stuck = new Slow("never");
    index.add("tricia", taken);
    index.add("tricia", closed);
    index.add("tricia", stuck);
    assert.deepEqual(await deliver(env, index, 30), { ok: true, delivered: 1 });
    assert.equal(stuck.cut, true, "the slow reader was cut off");
    assert.equal(taken.cut, false);
    assert.equal(closed.cut, false);
  });
});
