import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CloseReason, type Sweepable, Sweeper, sweepIntervalMs, sweepVerdict } from "./sweeper.js";

const limits = { idleTimeoutMs: 1000, maxOutputBuffer: 100 };
const base = {
  lastActivity: 10_000,
  deadline: 0,
  deadlineReason: CloseReason.TLS_HANDSHAKE_TIMEOUT as CloseReason,
  closeDeadline: 0,
  outputBytes: 0,
};

describe("sweepVerdict", () => {
  test("idle timeout counts from the last inbound message", () => {
    assert.equal(sweepVerdict(base, 10_999, limits), 0);
    assert.equal(sweepVerdict(base, 11_000, limits), CloseReason.IDLE_TIMEOUT);
  });
  test("slow reader: unsent output over the limit", () => {
    assert.equal(sweepVerdict({ ...base, outputBytes: 100 }, 10_001, limits), 0);
    assert.equal(sweepVerdict({ ...base, outputBytes: 101 }, 10_001, limits), CloseReason.SLOW_READER);
  });
  test("phase deadlines (TLS handshake, pre-login) and close deadlines", () => {
    assert.equal(sweepVerdict({ ...base, deadline: 10_500 }, 10_499, limits), 0);
    assert.equal(
      sweepVerdict({ ...base, deadline: 10_500 }, 10_500, limits),
      CloseReason.TLS_HANDSHAKE_TIMEOUT,
    );
    assert.equal(
      sweepVerdict(
        { ...base, deadline: 10_500, deadlineReason: CloseReason.PRELOGIN_TIMEOUT },
        10_600,
        limits,
      ),
      CloseReason.PRELOGIN_TIMEOUT,
    );
    assert.equal(sweepVerdict({ ...base, closeDeadline: 10_100 }, 10_100, limits), CloseReason.SERVER_CLOSE);
  });
  test("interval: a quarter of the shortest timeout, clamped", () => {
    assert.equal(sweepIntervalMs(300_000, 10_000), 1000);
    assert.equal(sweepIntervalMs(400, 10_000), 100);
    assert.equal(sweepIntervalMs(10, 10), 25);
  });
});

describe("Sweeper", () => {
  test("closes what is due, leaves the rest, survives closing while iterating", () => {
    const conns = new Set<Sweepable & { reason?: CloseReason }>();
    const mk = (lastActivity: number) => {
      const c: Sweepable & { reason?: CloseReason } = {
        ...base,
        lastActivity,
        close(reason) {
          c.reason = reason;
          conns.delete(c);
        },
      };
      conns.add(c);
      return c;
    };
    const idle = mk(0);
    const fresh = mk(10_000);
    const idle2 = mk(5);
    const s = new Sweeper(conns, limits, 1000);
    assert.equal(s.sweep(10_500), 2);
    assert.equal(idle.reason, CloseReason.IDLE_TIMEOUT);
    assert.equal(idle2.reason, CloseReason.IDLE_TIMEOUT);
    assert.equal(fresh.reason, undefined);
    assert.deepEqual([...conns], [fresh]);
  });
});
