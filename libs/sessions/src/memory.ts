import { nameCandidates } from "./names.js";
import { applyPatch, byConnectedAt, checkAccount, decodeDevice, encodeDevice } from "./record.js";
import {
  type BindResult,
  type DevicePatch,
  type DeviceRecord,
  type EdgeDevice,
  type PresenceRecord,
  type RateResult,
  type ReadonlyDevice,
  SessionError,
  type SessionStore,
} from "./types.js";

/** An account with no devices, as the message path's read gives it. */
const NO_DEVICES: readonly ReadonlyDevice[] = Object.freeze([]);

/**
 * The in-process store for the embedded single-process mode. Every method
 * runs synchronously inside its promise, which makes each one atomic — the
 * same guarantee the Redis store gets from Lua scripts. Records are kept
 * encoded, as in Redis, so both modes exercise the codec and callers never
 * share objects with the store — except the message path's read
 * (getDevicesAndListTokens), which gets one frozen decoded snapshot per
 * account, made once after each change instead of once per message.
 */
export function createMemorySessionStore(opts: { now?: () => number } = {}): SessionStore {
  const now = opts.now ?? Date.now;
  const accounts = new Map<string, Map<string, Buffer>>();
  /** account → its devices decoded, frozen, in connectedAt order; dropped whenever they change. */
  const snapshots = new Map<string, readonly ReadonlyDevice[]>();
  /** edge → "account\0name" → connId */
  const edgeIndex = new Map<string, Map<string, string>>();
  /** edge → heartbeat expiry (ms) */
  const edges = new Map<string, number>();
  const claims = new Map<string, { holder: string; until: number }>();
  const tokens = new Map<string, string>();
  const presence = new Map<string, string>();
  let tokenSeq = 0;
  const newToken = () =>
    `${now().toString(36)}.${(++tokenSeq).toString(36)}.${Math.random().toString(36).slice(2, 8)}`;
  /** key → hit times, oldest first */
  const rates = new Map<string, number[]>();
  /** key → member → last time, oldest first */
  const distinct = new Map<string, Map<string, number>>();
  const marks = new Map<string, number>();
  let closed = false;

  const alive = () => {
    if (closed) throw new SessionError("UNAVAILABLE", "session store is closed");
  };

  const decodeAll = (account: string, devices: Map<string, Buffer> | undefined): DeviceRecord[] => {
    if (devices === undefined) return [];
    const out: DeviceRecord[] = [];
    for (const b of devices.values()) out.push(decodeDevice(account, b));
    return out.sort(byConnectedAt);
  };

  const snapshotOf = (account: string): readonly ReadonlyDevice[] => {
    let snap = snapshots.get(account);
    if (snap === undefined) {
      const devices = accounts.get(account);
      if (devices === undefined) return NO_DEVICES;
      snap = Object.freeze(
        decodeAll(account, devices).map((d) => {
          Object.freeze(d.capabilities);
          return Object.freeze(d);
        }),
      );
      snapshots.set(account, snap);
    }
    return snap;
  };

  const indexOf = (edgeId: string) => {
    let idx = edgeIndex.get(edgeId);
    if (idx === undefined) {
      idx = new Map();
      edgeIndex.set(edgeId, idx);
    }
    return idx;
  };

  const window = (key: string, windowMs: number, t: number): number[] => {
    const hits = rates.get(key);
    if (hits === undefined) return [];
    // A hit counts for exactly windowMs: drop those at or before t - windowMs.
    let drop = 0;
    while (drop < hits.length && hits[drop]! <= t - windowMs) drop++;
    if (drop > 0) hits.splice(0, drop);
    if (hits.length === 0) rates.delete(key);
    return hits;
  };

  const distinctWindow = (key: string, windowMs: number, t: number): Map<string, number> => {
    const log = distinct.get(key) ?? new Map<string, number>();
    for (const [m, at] of log) {
      if (at > t - windowMs) break;
      log.delete(m);
    }
    if (log.size === 0) distinct.delete(key);
    return log;
  };

  const store: SessionStore = {
    kind: "memory",

    async bindDevice(record, wishedName, maxDevices): Promise<BindResult> {
      alive();
      checkAccount(record.account);
      const devices = accounts.get(record.account) ?? new Map<string, Buffer>();
      if (devices.size >= maxDevices) {
        return {
          ok: false,
          error: new SessionError(
            "TOO_MANY_DEVICES",
            `${record.account} already has ${devices.size} devices`,
          ),
        };
      }
      const name = nameCandidates(wishedName, maxDevices + 1).find((n) => !devices.has(n));
      if (name === undefined) throw new Error("unreachable: more candidates than devices");
      const full: DeviceRecord = { ...record, name };
      const encoded = encodeDevice(full);
      devices.set(name, encoded);
      snapshots.delete(record.account);
      accounts.set(record.account, devices);
      indexOf(record.edgeId).set(`${record.account}\0${name}`, record.connId);
      return {
        ok: true,
        device: decodeDevice(record.account, encoded),
        devices: decodeAll(record.account, devices),
      };
    },

    async updateDevice(account, name, patch: DevicePatch) {
      alive();
      const devices = accounts.get(account);
      const current = devices?.get(name);
      if (devices === undefined || current === undefined) return undefined;
      const next = applyPatch(decodeDevice(account, current), patch);
      const encoded = encodeDevice(next);
      devices.set(name, encoded);
      snapshots.delete(account);
      return decodeDevice(account, encoded);
    },

    async unbindDevice(account, name, connId) {
      alive();
      const devices = accounts.get(account);
      const current = devices?.get(name);
      if (devices === undefined || current === undefined) return undefined;
      const record = decodeDevice(account, current);
      if (connId !== undefined && record.connId !== connId) return undefined;
      devices.delete(name);
      snapshots.delete(account);
      if (devices.size === 0) accounts.delete(account);
      const idx = edgeIndex.get(record.edgeId);
      const field = `${account}\0${name}`;
      if (idx !== undefined && idx.get(field) === record.connId) {
        idx.delete(field);
        if (idx.size === 0) edgeIndex.delete(record.edgeId);
      }
      return record;
    },

    async getDevices(account) {
      alive();
      return decodeAll(account, accounts.get(account));
    },

    async getDevicesMany(list) {
      alive();
      return list.map((account) => decodeAll(account, accounts.get(account)));
    },

    async getDevice(account, name) {
      alive();
      const b = accounts.get(account)?.get(name);
      return b === undefined ? undefined : decodeDevice(account, b);
    },

    async heartbeatEdge(edgeId, ttlMs) {
      alive();
      const known = edges.has(edgeId);
      edges.set(edgeId, now() + ttlMs);
      return known;
    },

    async restoreDevice(record) {
      alive();
      checkAccount(record.account);
      const devices = accounts.get(record.account) ?? new Map<string, Buffer>();
      const current = devices.get(record.name);
      const field = `${record.account}\0${record.name}`;
      if (current !== undefined) {
        if (decodeDevice(record.account, current).connId !== record.connId) return "taken";
        indexOf(record.edgeId).set(field, record.connId);
        return "present";
      }
      devices.set(record.name, encodeDevice(record));
      snapshots.delete(record.account);
      accounts.set(record.account, devices);
      indexOf(record.edgeId).set(field, record.connId);
      return "restored";
    },

    async removeEdge(edgeId) {
      alive();
      if ((edgeIndex.get(edgeId)?.size ?? 0) === 0) {
        edges.delete(edgeId);
        edgeIndex.delete(edgeId);
        claims.delete(edgeId);
      } else {
        edges.set(edgeId, 0);
      }
    },

    async edgesWithPrefix(prefix) {
      alive();
      return [...edges.keys()].filter((e) => e.startsWith(`${prefix}-`)).sort();
    },

    async expireEdge(edgeId) {
      alive();
      if (edges.has(edgeId)) edges.set(edgeId, 0);
    },

    async deadEdges(at) {
      alive();
      const t = at ?? now();
      const out: string[] = [];
      for (const [edge, until] of edges) if (until < t) out.push(edge);
      return out.sort();
    },

    async claimEdgeCleanup(edgeId, holder, ttlMs) {
      alive();
      const t = now();
      const c = claims.get(edgeId);
      if (c !== undefined && c.until > t && c.holder !== holder) return false;
      claims.set(edgeId, { holder, until: t + ttlMs });
      return true;
    },

    async devicesOfEdge(edgeId) {
      alive();
      const out: EdgeDevice[] = [];
      for (const [field, connId] of edgeIndex.get(edgeId) ?? []) {
        const cut = field.indexOf("\0");
        out.push({ account: field.slice(0, cut), name: field.slice(cut + 1), connId });
      }
      return out;
    },

    async forgetEdge(edgeId) {
      alive();
      claims.delete(edgeId);
      const until = edges.get(edgeId);
      if (until !== undefined && until >= now()) return; // it came back: keep what it has
      edges.delete(edgeId);
      edgeIndex.delete(edgeId);
    },

    async hit(key, windowMs, limit): Promise<RateResult> {
      alive();
      const t = now();
      const hits = window(key, windowMs, t);
      if (hits.length < limit) {
        hits.push(t);
        if (!rates.has(key)) rates.set(key, hits);
        return { allowed: true, count: hits.length, retryAfterMs: 0 };
      }
      return { allowed: false, count: hits.length, retryAfterMs: Math.max(1, (hits[0] ?? t) + windowMs - t) };
    },

    async hitDistinct(key, member, windowMs, limit): Promise<RateResult> {
      alive();
      const t = now();
      const log = distinctWindow(key, windowMs, t);
      if (log.has(member) || log.size < limit) {
        log.delete(member); // re-inserted last: the map stays in time order
        log.set(member, t);
        distinct.set(key, log);
        return { allowed: true, count: log.size, retryAfterMs: 0 };
      }
      const oldest = log.values().next().value ?? t;
      return { allowed: false, count: log.size, retryAfterMs: Math.max(1, oldest + windowMs - t) };
    },

    async peekDistinct(key, member, windowMs) {
      alive();
      const log = distinctWindow(key, windowMs, now());
      return { count: log.size, present: log.has(member) };
    },

    async mark(key, ttlMs) {
      alive();
      marks.set(key, now() + ttlMs);
    },

    async marked(key) {
      alive();
      const until = marks.get(key);
      if (until === undefined) return false;
      if (until > now()) return true;
      marks.delete(key);
      return false;
    },

    async peek(key, windowMs, limit) {
      alive();
      const count = window(key, windowMs, now()).length;
      return { allowed: count < limit, count };
    },

    async resetKey(key) {
      alive();
      rates.delete(key);
      distinct.delete(key);
      marks.delete(key);
    },

    async getDevicesAndListTokens(list, tokenAccounts) {
      alive();
      return {
        devices: list.map(snapshotOf),
        tokens: await store.listTokens(tokenAccounts),
      };
    },

    async listTokens(list) {
      alive();
      return list.map((a) => {
        let t = tokens.get(a);
        if (t === undefined) {
          t = newToken();
          tokens.set(a, t);
        }
        return t;
      });
    },

    async bumpListTokens(list) {
      alive();
      for (const a of list) tokens.set(a, newToken());
    },

    async getPresence(list) {
      alive();
      return list.map((a) => {
        const v = presence.get(a);
        return v === undefined ? undefined : (JSON.parse(v) as PresenceRecord);
      });
    },

    async setPresence(account, record) {
      alive();
      checkAccount(account);
      presence.set(account, JSON.stringify(record));
    },

    async ping() {
      alive();
    },

    async close() {
      closed = true;
      accounts.clear();
      snapshots.clear();
      edgeIndex.clear();
      edges.clear();
      claims.clear();
      rates.clear();
      tokens.clear();
      presence.clear();
    },
  };
  return store;
}
