import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import * as lua from "./lua.js";
import { nameCandidates } from "./names.js";
import {
  applyPatch,
  byConnectedAt,
  checkAccount,
  decodeDevice,
  encodeDevice,
  encodeDeviceTail,
} from "./record.js";
import {
  type BindResult,
  type DevicePatch,
  type DeviceRecord,
  type EdgeDevice,
  type PresenceRecord,
  type RateResult,
  SessionError,
  type SessionStore,
} from "./types.js";

export interface RedisSessionStoreOptions {
  url: string;
  /** Default "impp:". Tests use a random one. */
  keyPrefix?: string;
  /** A command not answered within this time rejects with UNAVAILABLE (default 2000). */
  commandTimeoutMs?: number;
  /** How long the first connection may take before connectRedisSessionStore fails (default 3000). */
  connectTimeoutMs?: number;
  /** With a rediss:// URL: a PEM CA file to verify the server's certificate (default: the system's CAs). */
  tlsCaFile?: string;
  /** Connection trouble after start (the client reconnects by itself); for logging. */
  onError?: (error: Error) => void;
}

interface Script {
  readonly source: string;
  readonly sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash("sha1").update(source).digest("hex") });

const S = {
  bind: script(lua.BIND),
  unbind: script(lua.UNBIND),
  update: script(lua.UPDATE),
  heartbeat: script(lua.HEARTBEAT),
  restore: script(lua.RESTORE),
  deadEdges: script(lua.DEAD_EDGES),
  removeEdge: script(lua.REMOVE_EDGE),
  forgetEdge: script(lua.FORGET_EDGE),
  claim: script(lua.CLAIM),
  hit: script(lua.HIT),
  peek: script(lua.PEEK),
  hitDistinct: script(lua.HIT_DISTINCT),
  peekDistinct: script(lua.PEEK_DISTINCT),
  devicesAndTokens: script(lua.DEVICES_AND_TOKENS),
};

/** A concurrent UPDATE of the same device retries its compare-and-set this often before giving up. */
const UPDATE_ATTEMPTS = 8;

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Connects, and fails fast with SessionError UNAVAILABLE when Redis cannot be
 * reached. Afterwards the client reconnects on its own; while Redis is away
 * commands reject at once with UNAVAILABLE (no offline queue: a request
 * waiting on a dead Redis would only turn into a late SERVICE_UNAVAILABLE).
 */
export async function connectRedisSessionStore(opts: RedisSessionStoreOptions): Promise<SessionStore> {
  const prefix = opts.keyPrefix ?? "impp:";
  const where = redactUrl(opts.url);
  let redis: Redis;
  let ca: Buffer | undefined;
  if (opts.tlsCaFile !== undefined) {
    if (!opts.url.startsWith("rediss:"))
      throw new SessionError("UNAVAILABLE", `a CA file needs a rediss:// URL (got ${where})`);
    try {
      ca = readFileSync(opts.tlsCaFile);
    } catch (e) {
      throw new SessionError(
        "UNAVAILABLE",
        `cannot read the Redis CA file ${opts.tlsCaFile}: ${(e as NodeJS.ErrnoException).code ?? message(e)}`,
      );
    }
  }
  try {
    redis = new Redis(opts.url, {
      ...(ca === undefined ? {} : { tls: { ca } }),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      connectTimeout: opts.connectTimeoutMs ?? 3000,
      retryStrategy: (times) => Math.min(100 * times, 2000),
    });
  } catch (e) {
    throw new SessionError("UNAVAILABLE", `cannot use Redis at ${where}: ${message(e)}`, { cause: e });
  }
  // Without a listener an 'error' event would crash the process. While connecting, the last one is
  // the reason (WRONGPASS, NOAUTH, a certificate problem): connect() itself only says "Connection is
  // closed".
  let lastError: Error | undefined;
  redis.on("error", (e: Error) => {
    lastError = e;
    opts.onError?.(e);
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    redis.disconnect();
    const why = lastError !== undefined && lastError !== e ? message(lastError) : message(e);
    throw new SessionError("UNAVAILABLE", `cannot reach Redis at ${where}: ${why}`, {
      cause: lastError ?? e,
    });
  }
  return new RedisSessionStore(redis, prefix, where);
}

class RedisSessionStore implements SessionStore {
  readonly kind = "redis" as const;
  private closed = false;
  private seq = 0;
  private readonly instance = randomBytes(6).toString("hex");
  /** The socket corked until the next tick (coalesceWrites). */
  private corked: { uncork(): void } | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly where: string,
  ) {}

  private devKey(account: string) {
    return `${this.prefix}dev:${account}`;
  }
  private edgeKey(edgeId: string) {
    return `${this.prefix}edge:${edgeId}`;
  }
  private claimKey(edgeId: string) {
    return `${this.prefix}claim:${edgeId}`;
  }
  private tokenKey(account: string) {
    return `${this.prefix}lt:${account}`;
  }
  private presenceKey(account: string) {
    return `${this.prefix}pr:${account}`;
  }
  private newToken() {
    return `${this.instance}.${(++this.seq).toString(36)}`;
  }
  private get edgesKey() {
    return `${this.prefix}edges`;
  }

  /**
   * Commands sent until the current tick's work is done go out in one write: the socket is corked
   * and uncorked on the next tick. A NATS read hands the services a batch of requests whose Redis
   * reads are all sent in the same tick; without this each was a write system call of its own
   * (a tenth of the services process's CPU under load).
   */
  private coalesceWrites(): void {
    if (this.corked !== undefined) return;
    const stream = this.redis.stream;
    if (stream === undefined || !stream.writable) return;
    stream.cork();
    this.corked = stream;
    process.nextTick(() => {
      this.corked = undefined;
      stream.uncork();
    });
  }

  /** Every Redis failure becomes SessionError UNAVAILABLE, with the cause kept. */
  private async io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new SessionError("UNAVAILABLE", "session store is closed");
    this.coalesceWrites();
    try {
      return await fn();
    } catch (e) {
      if (e instanceof SessionError) throw e;
      throw new SessionError("UNAVAILABLE", `Redis ${what} failed (${this.where}): ${message(e)}`, {
        cause: e,
      });
    }
  }

  private async eval(s: Script, keys: string[], args: Array<string | Buffer | number>): Promise<unknown> {
    try {
      return await this.redis.callBuffer("EVALSHA", [s.sha, keys.length, ...keys, ...args]);
    } catch (e) {
      // First use on this Redis (or after SCRIPT FLUSH / a restart): load it by sending the source.
      if (!message(e).includes("NOSCRIPT")) throw e;
      return await this.redis.callBuffer("EVAL", [s.source, keys.length, ...keys, ...args]);
    }
  }

  bindDevice(
    record: Omit<DeviceRecord, "name">,
    wishedName: string,
    maxDevices: number,
  ): Promise<BindResult> {
    return this.io("bind", async () => {
      checkAccount(record.account);
      const tail = encodeDeviceTail(record);
      const candidates = nameCandidates(wishedName, maxDevices + 1);
      const reply = (await this.eval(
        S.bind,
        [this.devKey(record.account), this.edgeKey(record.edgeId)],
        [maxDevices, record.account, record.connId, tail, ...candidates],
      )) as Array<number | Buffer>;
      if (reply[0] !== 1) {
        const count = Number(reply[1]);
        return {
          ok: false,
          error: new SessionError("TOO_MANY_DEVICES", `${record.account} already has ${count} devices`),
        };
      }
      const name = (reply[1] as Buffer).toString("utf8");
      const devices: DeviceRecord[] = [];
      let device: DeviceRecord | undefined;
      for (let i = 2; i < reply.length; i++) {
        const d = decodeDevice(record.account, reply[i] as Buffer);
        if (d.name === name) device = d;
        devices.push(d);
      }
      if (device === undefined)
        throw new SessionError("CORRUPT_RECORD", `bound device ${name} not read back`);
      devices.sort(byConnectedAt);
      return { ok: true, device: { ...device, capabilities: [...device.capabilities] }, devices };
    });
  }

  updateDevice(account: string, name: string, patch: DevicePatch): Promise<DeviceRecord | undefined> {
    return this.io("update", async () => {
      const key = this.devKey(account);
      for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
        const current = await this.redis.hgetBuffer(key, name);
        if (current === null) return undefined;
        const next = applyPatch(decodeDevice(account, current), patch);
        const encoded = encodeDevice(next);
        const r = Number(await this.eval(S.update, [key], [name, current, encoded]));
        if (r === 1) return next;
        if (r === -1) return undefined;
      }
      throw new SessionError("UNAVAILABLE", `device ${account}/${name} kept changing during update`);
    });
  }

  unbindDevice(account: string, name: string, connId?: string): Promise<DeviceRecord | undefined> {
    return this.io("unbind", async () => {
      const rec = (await this.eval(
        S.unbind,
        [this.devKey(account)],
        [name, connId === undefined ? "0" : "1", connId ?? "", this.prefix, account],
      )) as Buffer | null;
      return rec === null ? undefined : decodeDevice(account, rec);
    });
  }

  getDevices(account: string): Promise<DeviceRecord[]> {
    return this.io("getDevices", async () => {
      const values = await this.redis.hvalsBuffer(this.devKey(account));
      const out = new Array<DeviceRecord>(values.length);
      for (let i = 0; i < values.length; i++) out[i] = decodeDevice(account, values[i]!);
      return out.length > 1 ? out.sort(byConnectedAt) : out;
    });
  }

  getDevicesMany(accounts: readonly string[]): Promise<DeviceRecord[][]> {
    return this.io("getDevicesMany", async () => {
      if (accounts.length === 0) return [];
      const unique = [...new Set(accounts)];
      const pipeline = this.redis.pipeline();
      for (const account of unique) pipeline.hvalsBuffer(this.devKey(account));
      const results = (await pipeline.exec()) ?? [];
      const byAccount = new Map<string, DeviceRecord[]>();
      for (let i = 0; i < unique.length; i++) {
        const account = unique[i]!;
        const [err, values] = results[i] ?? [new Error("missing pipeline result"), null];
        if (err) throw err;
        const buffers = values as Buffer[];
        const out = new Array<DeviceRecord>(buffers.length);
        for (let j = 0; j < buffers.length; j++) out[j] = decodeDevice(account, buffers[j]!);
        byAccount.set(account, out.length > 1 ? out.sort(byConnectedAt) : out);
      }
      // Copies for repeated accounts, so callers never share one array between two results.
      return accounts.map((a, i) => (accounts.indexOf(a) === i ? byAccount.get(a)! : [...byAccount.get(a)!]));
    });
  }

  getDevicesAndListTokens(
    accounts: readonly string[],
    tokenAccounts: readonly string[],
  ): Promise<{ devices: DeviceRecord[][]; tokens: string[] }> {
    return this.io("getDevicesAndListTokens", async () => {
      if (accounts.length === 0 && tokenAccounts.length === 0) return { devices: [], tokens: [] };
      const keys = new Array<string>(accounts.length + tokenAccounts.length);
      const args = new Array<string | number>(1 + tokenAccounts.length);
      args[0] = accounts.length;
      for (let i = 0; i < accounts.length; i++) keys[i] = this.devKey(accounts[i]!);
      for (let k = 0; k < tokenAccounts.length; k++) {
        keys[accounts.length + k] = this.tokenKey(tokenAccounts[k]!);
        args[1 + k] = this.newToken();
      }
      const reply = (await this.eval(S.devicesAndTokens, keys, args)) as Array<Buffer[] | Buffer>;
      const devices = new Array<DeviceRecord[]>(accounts.length);
      for (let i = 0; i < accounts.length; i++) {
        const account = accounts[i]!;
        const buffers = reply[i] as Buffer[];
        const out = new Array<DeviceRecord>(buffers.length);
        for (let j = 0; j < buffers.length; j++) out[j] = decodeDevice(account, buffers[j]!);
        devices[i] = out.length > 1 ? out.sort(byConnectedAt) : out;
      }
      const tokens = new Array<string>(tokenAccounts.length);
      for (let k = 0; k < tokenAccounts.length; k++) tokens[k] = String(reply[accounts.length + k]);
      return { devices, tokens };
    });
  }

  async listTokens(accounts: readonly string[]): Promise<string[]> {
    if (accounts.length === 0) return [];
    return (await this.getDevicesAndListTokens([], accounts)).tokens;
  }

  bumpListTokens(accounts: readonly string[]): Promise<void> {
    return this.io("bumpListTokens", async () => {
      if (accounts.length === 0) return;
      const pipeline = this.redis.pipeline();
      for (const account of accounts) pipeline.set(this.tokenKey(account), this.newToken());
      for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
    });
  }

  getPresence(accounts: readonly string[]): Promise<Array<PresenceRecord | undefined>> {
    return this.io("getPresence", async () => {
      if (accounts.length === 0) return [];
      const values = await this.redis.mget(accounts.map((a) => this.presenceKey(a)));
      return values.map((v) => (v === null ? undefined : (JSON.parse(v) as PresenceRecord)));
    });
  }

  setPresence(account: string, record: PresenceRecord): Promise<void> {
    return this.io("setPresence", async () => {
      checkAccount(account);
      await this.redis.set(this.presenceKey(account), JSON.stringify(record));
    });
  }

  getDevice(account: string, name: string): Promise<DeviceRecord | undefined> {
    return this.io("getDevice", async () => {
      const b = await this.redis.hgetBuffer(this.devKey(account), name);
      return b === null ? undefined : decodeDevice(account, b);
    });
  }

  heartbeatEdge(edgeId: string, ttlMs: number): Promise<boolean> {
    return this.io("heartbeat", async () => {
      const r = await this.eval(S.heartbeat, [this.edgesKey], [edgeId, Math.max(0, Math.floor(ttlMs))]);
      return Number(r) === 1;
    });
  }

  restoreDevice(record: DeviceRecord): Promise<"restored" | "present" | "taken"> {
    return this.io("restoreDevice", async () => {
      checkAccount(record.account);
      const r = Number(
        await this.eval(
          S.restore,
          [this.devKey(record.account), this.edgeKey(record.edgeId)],
          [record.name, record.connId, encodeDevice(record), record.account],
        ),
      );
      return r === 1 ? "restored" : r === 0 ? "present" : "taken";
    });
  }

  removeEdge(edgeId: string): Promise<void> {
    return this.io("removeEdge", async () => {
      await this.eval(S.removeEdge, [this.edgesKey, this.edgeKey(edgeId), this.claimKey(edgeId)], [edgeId]);
    });
  }

  edgesWithPrefix(prefix: string): Promise<string[]> {
    return this.io("edgesWithPrefix", async () => {
      // An edge registry holds tens of ids: one ZRANGE, filtered here.
      const all = await this.redis.zrange(this.edgesKey, "0", "-1");
      return all.filter((e) => e.startsWith(`${prefix}-`)).sort();
    });
  }

  expireEdge(edgeId: string): Promise<void> {
    return this.io("expireEdge", async () => {
      await this.redis.zadd(this.edgesKey, "XX", "0", edgeId);
    });
  }

  deadEdges(now?: number): Promise<string[]> {
    return this.io("deadEdges", async () => {
      const ids = (await this.eval(
        S.deadEdges,
        [this.edgesKey],
        [now === undefined ? "" : Math.floor(now)],
      )) as Buffer[];
      return ids.map((b) => b.toString("utf8")).sort();
    });
  }

  claimEdgeCleanup(edgeId: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.io("claim", async () => {
      const r = await this.eval(S.claim, [this.claimKey(edgeId)], [holder, Math.max(1, Math.floor(ttlMs))]);
      return Number(r) === 1;
    });
  }

  devicesOfEdge(edgeId: string): Promise<EdgeDevice[]> {
    return this.io("devicesOfEdge", async () => {
      const flat = await this.redis.hgetallBuffer(this.edgeKey(edgeId));
      const out: EdgeDevice[] = [];
      for (const [field, conn] of Object.entries(flat)) {
        const cut = field.indexOf("\0");
        if (cut < 0) continue;
        out.push({ account: field.slice(0, cut), name: field.slice(cut + 1), connId: conn.toString("utf8") });
      }
      return out;
    });
  }

  forgetEdge(edgeId: string): Promise<void> {
    return this.io("forgetEdge", async () => {
      await this.eval(S.forgetEdge, [this.edgesKey, this.edgeKey(edgeId), this.claimKey(edgeId)], [edgeId]);
    });
  }

  hit(key: string, windowMs: number, limit: number): Promise<RateResult> {
    return this.io("hit", async () => {
      const member = `${this.instance}:${this.seq++}`;
      const [allowed, count, retry] = (await this.eval(
        S.hit,
        [`${this.prefix}rl:${key}`],
        [Math.max(1, Math.floor(windowMs)), Math.floor(limit), member],
      )) as number[];
      return { allowed: allowed === 1, count: Number(count), retryAfterMs: Number(retry) };
    });
  }

  peek(key: string, windowMs: number, limit: number): Promise<{ allowed: boolean; count: number }> {
    return this.io("peek", async () => {
      const [allowed, count] = (await this.eval(
        S.peek,
        [`${this.prefix}rl:${key}`],
        [Math.max(1, Math.floor(windowMs)), Math.floor(limit)],
      )) as number[];
      return { allowed: allowed === 1, count: Number(count) };
    });
  }

  hitDistinct(key: string, member: string, windowMs: number, limit: number): Promise<RateResult> {
    return this.io("hitDistinct", async () => {
      const [allowed, count, retry] = (await this.eval(
        S.hitDistinct,
        [`${this.prefix}rl:${key}`],
        [Math.max(1, Math.floor(windowMs)), Math.floor(limit), member],
      )) as number[];
      return { allowed: allowed === 1, count: Number(count), retryAfterMs: Number(retry) };
    });
  }

  peekDistinct(key: string, member: string, windowMs: number): Promise<{ count: number; present: boolean }> {
    return this.io("peekDistinct", async () => {
      const [count, present] = (await this.eval(
        S.peekDistinct,
        [`${this.prefix}rl:${key}`],
        [Math.max(1, Math.floor(windowMs)), member],
      )) as number[];
      return { count: Number(count), present: present === 1 };
    });
  }

  mark(key: string, ttlMs: number): Promise<void> {
    return this.io("mark", async () => {
      await this.redis.set(`${this.prefix}mk:${key}`, "1", "PX", Math.max(1, Math.floor(ttlMs)));
    });
  }

  marked(key: string): Promise<boolean> {
    return this.io("marked", async () => (await this.redis.exists(`${this.prefix}mk:${key}`)) === 1);
  }

  resetKey(key: string): Promise<void> {
    return this.io("resetKey", async () => {
      await this.redis.del(`${this.prefix}rl:${key}`, `${this.prefix}mk:${key}`);
    });
  }

  ping(): Promise<void> {
    return this.io("ping", async () => {
      await this.redis.ping();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
