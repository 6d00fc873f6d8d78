import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FamilyFifo } from "./fifo.js";

interface Item {
  family: number;
  id: string;
  /** Runs asynchronously until released. */
  async?: boolean;
}

function harness() {
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const errors: unknown[] = [];
  let settled = 0;
  const fifo = new FamilyFifo<Item>({
    runQueued(item) {
      started.push(item.id);
      if (item.id.startsWith("throw")) throw new Error("boom");
      if (!item.async) return undefined;
      return new Promise<void>((resolve) => gates.set(item.id, resolve));
    },
    queueSettled() {
      settled++;
    },
    queueFailed(e) {
      errors.push(e);
    },
  });
  const release = async (id: string) => {
    const g = gates.get(id);
    assert.ok(g, `${id} is not running`);
    g();
    // Let the fifo's then-callbacks run.
    await new Promise((r) => setImmediate(r));
  };
  return { fifo, started, release, errors, settled: () => settled };
}

describe("FamilyFifo", () => {
  test("serial mode: one at a time across all families, in arrival order", async () => {
    const h = harness();
    h.fifo.push({ family: 1, id: "auth", async: true });
    h.fifo.push({ family: 2, id: "bind", async: true });
    h.fifo.push({ family: 1, id: "ping" });
    assert.deepEqual(h.started, ["auth"]);
    assert.equal(h.fifo.size, 3);
    await h.release("auth");
    assert.deepEqual(h.started, ["auth", "bind"]);
    await h.release("bind");
    assert.deepEqual(h.started, ["auth", "bind", "ping"]);
    assert.equal(h.fifo.size, 0);
  });

  test("synchronous items run at once when nothing is ahead of them", () => {
    const h = harness();
    h.fifo.push({ family: 1, id: "a" });
    h.fifo.push({ family: 3, id: "b" });
    assert.deepEqual(h.started, ["a", "b"]);
    assert.equal(h.fifo.size, 0);
  });

  test("concurrent mode: FIFO per family, families run side by side (the §2.4 example)", async () => {
    const h = harness();
    h.fifo.setConcurrent(true);
    h.fifo.push({ family: 3, id: "add-100", async: true });
    h.fifo.push({ family: 3, id: "remove-101", async: true });
    h.fifo.push({ family: 5, id: "presence-102", async: true });
    assert.deepEqual(h.started, ["add-100", "presence-102"]);
    await h.release("presence-102");
    assert.deepEqual(h.started, ["add-100", "presence-102"]);
    await h.release("add-100");
    assert.deepEqual(h.started, ["add-100", "presence-102", "remove-101"]);
    await h.release("remove-101");
    assert.equal(h.fifo.size, 0);
    assert.equal(h.settled(), 3);
  });

  test("switching to concurrent inside a runner (the BIND reply) releases waiting families at once", async () => {
    const h = harness();
    h.fifo.push({ family: 2, id: "bind", async: true });
    h.fifo.push({ family: 3, id: "lists", async: true });
    h.fifo.push({ family: 4, id: "im", async: true });
    h.fifo.push({ family: 3, id: "lists2", async: true });
    assert.deepEqual(h.started, ["bind"]);
    h.fifo.setConcurrent(true);
    await h.release("bind");
    assert.deepEqual(h.started, ["bind", "lists", "im"]);
    await h.release("lists");
    assert.deepEqual(h.started, ["bind", "lists", "im", "lists2"]);
  });

  test("back to serial: nothing new starts while anything runs", async () => {
    const h = harness();
    h.fifo.setConcurrent(true);
    h.fifo.push({ family: 3, id: "lists", async: true });
    h.fifo.setConcurrent(false);
    h.fifo.push({ family: 4, id: "im", async: true });
    assert.deepEqual(h.started, ["lists"]);
    await h.release("lists");
    assert.deepEqual(h.started, ["lists", "im"]);
  });

  test("a throwing runner is contained and the queue goes on", () => {
    const h = harness();
    h.fifo.push({ family: 1, id: "throw-1" });
    h.fifo.push({ family: 1, id: "after" });
    assert.deepEqual(h.started, ["throw-1", "after"]);
    assert.equal(h.errors.length, 1);
  });

  test("close drops waiting items", async () => {
    const h = harness();
    h.fifo.push({ family: 1, id: "a", async: true });
    h.fifo.push({ family: 1, id: "b", async: true });
    h.fifo.close();
    await h.release("a");
    h.fifo.push({ family: 1, id: "c" });
    assert.deepEqual(h.started, ["a"]);
    assert.equal(h.fifo.size, 0);
  });
});
