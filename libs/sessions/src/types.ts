/** One bound device of an account: what DEVICE BIND created and UPDATE changes. */
export interface DeviceRecord {
  account: string;
  /** Unique among the account's bound devices. */
  name: string;
  edgeId: string;
  connId: string;
  remoteAddress: string;
  /** ms since the epoch */
  connectedAt: number;
  clientName?: string;
  clientPlatform?: string;
  clientModel?: string;
  clientArch?: string;
  clientVersion?: string;
  clientBuild?: string;
  clientDescription?: string;
  status: number;
  statusMessage?: string;
  capabilities: number[];
  isIdle: boolean;
  isMobile: boolean;
  isStatusAutomatic: boolean;
  /** The edge's public host:port (what SERVER TLVs announce), when known. */
  server?: string;
}

/** A device record nobody may change (a snapshot shared by the store's readers). */
export type ReadonlyDevice = Readonly<Omit<DeviceRecord, "capabilities">> & {
  readonly capabilities: readonly number[];
};

export type DevicePatch = Partial<
  Pick<
    DeviceRecord,
    "status" | "statusMessage" | "capabilities" | "isIdle" | "isMobile" | "isStatusAutomatic"
  >
>;

export type SessionErrorKind =
  /** bindDevice: the account already has the maximum number of devices. */
  | "TOO_MANY_DEVICES"
  /** The backing store cannot be reached or failed; the operation may or may not have happened. */
  | "UNAVAILABLE"
  /** The caller passed a record that cannot be stored (a string over 65535 bytes, a status over u16…). */
  | "INVALID_RECORD"
  /** A stored record could not be decoded (written by an incompatible version). */
  | "CORRUPT_RECORD";

export class SessionError extends Error {
  readonly kind: SessionErrorKind;
  constructor(kind: SessionErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SessionError";
    this.kind = kind;
  }
}

export type BindResult =
  | { ok: true; device: DeviceRecord; devices: DeviceRecord[] }
  | { ok: false; error: SessionError };

export interface RateResult {
  allowed: boolean;
  /** Hits counted in the window, this one included when it was allowed. */
  count: number;
  /** 0 when allowed; otherwise how long until the oldest counted hit leaves the window. */
  retryAfterMs: number;
}

/**
 * A user's presence as the user set it (PRESENCE SET, or a device's STATUS at BIND/UPDATE), and a
 * fingerprint of what watchers were last told, so an UPDATE goes out only when that changes.
 * The advertised status is computed from this and the bound devices (§4.5).
 */
export interface PresenceRecord {
  status: number;
  statusMessage?: string;
  isStatusAutomatic?: boolean;
  nickname?: string;
  /** Hex SHA-1 of the user's avatar. */
  avatarSha1?: string;
  advertised?: string;
}

export interface EdgeDevice {
  account: string;
  name: string;
  connId: string;
}

/**
 * Live state shared by all nodes. Both implementations (Redis, in-process)
 * pass the same contract suite (contract.ts).
 *
 * Rate limits are a sliding log: a hit counts for exactly `windowMs` after it
 * happened. Denied hits are not recorded, so a key never holds more than
 * `limit` entries however hard it is hammered.
 *
 * Device lists come back sorted by connectedAt, then name.
 */
export interface SessionStore {
  readonly kind: "redis" | "memory";
  /**
   * Atomically: refuse when the account has `maxDevices` devices, else bind
   * under the first free name among the wish, wish-2, wish-3… (each at most
   * 64 characters) and add the device to its edge's index.
   */
  bindDevice(record: Omit<DeviceRecord, "name">, wishedName: string, maxDevices: number): Promise<BindResult>;
  /** undefined when no such device is bound. */
  updateDevice(account: string, name: string, patch: DevicePatch): Promise<DeviceRecord | undefined>;
  /**
   * Removes the device only if it is still the one bound by `connId` (when
   * given), so a late close of an old connection never removes a newer
   * device of the same name. Returns the removed record.
   */
  unbindDevice(account: string, name: string, connId?: string): Promise<DeviceRecord | undefined>;
  /** One round trip: this is read for every instant message. */
  getDevices(account: string): Promise<DeviceRecord[]>;
  getDevice(account: string, name: string): Promise<DeviceRecord | undefined>;
  /**
   * getDevices for several accounts in one round trip (Redis: one pipeline) — an instant message
   * reads its recipient's and its sender's devices together. Result i belongs to accounts[i];
   * an account given twice gets equal lists.
   */
  getDevicesMany(accounts: readonly string[]): Promise<DeviceRecord[][]>;

  /**
   * Devices of `accounts` and the list tokens of `tokenAccounts`, in one round trip: what an
   * instant message reads (both parties' devices, the sender's list token). The records are
   * read-only: the in-process store hands out one frozen snapshot of an account's devices until
   * they change, rather than decoding them again for every message (#13).
   */
  getDevicesAndListTokens(
    accounts: readonly string[],
    tokenAccounts: readonly string[],
  ): Promise<{ devices: readonly (readonly ReadonlyDevice[])[]; tokens: string[] }>;

  /**
   * A token per user that changes whenever the user's contact lists change (the roster bumps it
   * after each committed change); a missing token is created. Caches of list data are keyed by
   * it: a cache entry made under an older token is stale. One round trip.
   */
  listTokens(accounts: readonly string[]): Promise<string[]>;
  /** New tokens for these users (after their lists changed). */
  bumpListTokens(accounts: readonly string[]): Promise<void>;

  /** Presence records; undefined for a user who never set one. One round trip. */
  getPresence(accounts: readonly string[]): Promise<Array<PresenceRecord | undefined>>;
  setPresence(account: string, record: PresenceRecord): Promise<void>;

  /**
   * The edge is alive until ttlMs from now. Edges must heartbeat before binding devices. Returns
   * whether the edge was registered before this heartbeat: false on an edge's first heartbeat, and
   * afterwards only when the store lost it (Redis restarted empty, or the edge was swept as dead
   * and forgotten) — then its device registrations are gone too and the edge restores them.
   */
  heartbeatEdge(edgeId: string, ttlMs: number): Promise<boolean>;
  /**
   * Puts back a device an edge still holds the connection of (its registration was lost): written
   * under its own name with its own connId, and added to its edge's index, unless that name is now
   * held by another connection ("taken"); "present" when it is still registered with this connId.
   * The per-account device limit is not checked: the device was bound within it.
   */
  restoreDevice(record: DeviceRecord): Promise<"restored" | "present" | "taken">;
  /**
   * Clean shutdown. With no devices left in its index the edge is forgotten;
   * with devices left (it could not unbind them all) it is marked dead now so
   * the presence service cleans them up.
   */
  removeEdge(edgeId: string): Promise<void>;
  /**
   * Registered edges (live or dead) whose id is `${prefix}-…`: the earlier incarnations of an edge,
   * which a starting edge checks for (each process start has its own id).
   */
  edgesWithPrefix(prefix: string): Promise<string[]>;
  /**
   * Marks a registered edge dead now (its heartbeat expired), so the presence sweep cleans its
   * devices up on its next pass; nothing happens to an edge that is not registered.
   */
  expireEdge(edgeId: string): Promise<void>;
  /** Edges whose heartbeat expired before `now` (default: the store's clock). */
  deadEdges(now?: number): Promise<string[]>;
  /** True when `holder` now holds the cleanup of this edge for ttlMs (re-claiming by the same holder extends it). */
  claimEdgeCleanup(edgeId: string, holder: string, ttlMs: number): Promise<boolean>;
  devicesOfEdge(edgeId: string): Promise<EdgeDevice[]>;
  /** After cleanup: drop the heartbeat, the device index and the claim. An edge that came back to life keeps its heartbeat and index. */
  forgetEdge(edgeId: string): Promise<void>;

  hit(key: string, windowMs: number, limit: number): Promise<RateResult>;
  /**
   * A sliding log of distinct members (the accounts that failed to log in from one address): a
   * member already in the window is allowed and only its time refreshed; a new one is added while
   * fewer than `limit` members are in the window, else refused. `count` is distinct members.
   */
  hitDistinct(key: string, member: string, windowMs: number, limit: number): Promise<RateResult>;
  /** hitDistinct without recording: `present` = the member is in the window (it would be allowed). */
  peekDistinct(key: string, member: string, windowMs: number): Promise<{ count: number; present: boolean }>;
  /** A flag that lives for ttlMs (set again: ttlMs from now), e.g. a known-good (account, address) pair. */
  mark(key: string, ttlMs: number): Promise<void>;
  marked(key: string): Promise<boolean>;
  peek(key: string, windowMs: number, limit: number): Promise<{ allowed: boolean; count: number }>;
  resetKey(key: string): Promise<void>;

  /** Resolves when the store answers; rejects with SessionError UNAVAILABLE otherwise (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
