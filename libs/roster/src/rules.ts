// Pure rules: intelligent presence (PROTOCOL.md §4.5) and who may see whom. No I/O.
import { Status } from "@impp/protocol";
import type { PresenceRecord } from "@impp/sessions";
import { blockedEitherWay, type Relations } from "./relations.js";

/** What a device contributes to its user's presence. */
export interface DeviceState {
  readonly status: number;
  readonly isIdle: boolean;
  readonly isMobile: boolean;
  readonly capabilities: readonly number[];
}

/** A user's presence as one watcher sees it. */
export interface Advertised {
  readonly status: number;
  readonly statusMessage: string;
  readonly isStatusAutomatic: boolean;
  readonly nickname: string;
  /** Hex, "" for none. */
  readonly avatarSha1: string;
  readonly capabilities: readonly number[];
}

export const OFFLINE: Advertised = {
  status: Status.OFFLINE,
  statusMessage: "",
  isStatusAutomatic: false,
  nickname: "",
  avatarSha1: "",
  capabilities: [],
};

/**
 * The advertised presence (§4.5 [decision]) computed from the user-level status and the bound
 * devices, as a watcher who may see through invisibility sees it (`visible`), or as the user's
 * own devices see it (INVISIBLE stays INVISIBLE for them):
 * no device → OFFLINE; AWAY and DND as set; ONLINE (or INVISIBLE seen through) → ONLINE with a
 * non-idle, non-mobile device, MOBILE when the only non-idle devices are mobile, AWAY (automatic)
 * when every device is idle.
 */
export function advertise(
  user: PresenceRecord | undefined,
  devices: readonly DeviceState[],
  as: "visible" | "self" = "visible",
): Advertised {
  if (devices.length === 0) {
    // Offline: the nickname and avatar still identify the user.
    return { ...OFFLINE, nickname: user?.nickname ?? "", avatarSha1: user?.avatarSha1 ?? "" };
  }
  const set = user?.status ?? devices[devices.length - 1]!.status;
  let status: number = set;
  let automatic = user?.isStatusAutomatic ?? false;
  if (set === Status.ONLINE || (set === Status.INVISIBLE && as === "visible") || set === Status.MOBILE) {
    const awake = devices.filter((d) => !d.isIdle);
    if (awake.some((d) => !d.isMobile)) status = Status.ONLINE;
    else if (awake.length > 0) status = Status.MOBILE;
    else {
      status = Status.AWAY;
      automatic = true;
    }
  }
  const caps = new Set<number>();
  for (const d of devices) for (const c of d.capabilities) caps.add(c);
  return {
    status,
    statusMessage: user?.statusMessage ?? "",
    isStatusAutomatic: automatic,
    nickname: user?.nickname ?? "",
    avatarSha1: user?.avatarSha1 ?? "",
    capabilities: [...caps].sort((a, b) => a - b),
  };
}

/** Whether `watcher` may see `owner`'s presence at all: owner approved them and neither blocks the other. */
export function maySee(owner: Relations, watcher: string): boolean {
  return owner.approved.has(watcher) && !blockedEitherWay(owner, watcher);
}

/** Whether an invisible owner still shows to `watcher` (their allow list). */
export function seesThroughInvisible(owner: Relations, watcher: string): boolean {
  return owner.allow.has(watcher);
}

/**
 * What `watcher` sees of a user: OFFLINE unless they may see them; OFFLINE while the user is
 * invisible unless the watcher is on the allow list; else the visible presence.
 */
export function viewFor(
  owner: Relations,
  user: PresenceRecord | undefined,
  devices: readonly DeviceState[],
  watcher: string,
): Advertised {
  if (!maySee(owner, watcher)) return OFFLINE;
  if (user?.status === Status.INVISIBLE && !seesThroughInvisible(owner, watcher)) return OFFLINE;
  return advertise(user, devices, "visible");
}

/** A stable fingerprint of what watchers are told (the advertised presence and whether invisible). */
export function fingerprint(a: Advertised, invisible: boolean): string {
  return `${invisible ? 1 : 0}|${a.status}|${a.isStatusAutomatic ? 1 : 0}|${a.capabilities.join(",")}|${a.avatarSha1}|${a.nickname}|${a.statusMessage}`;
}

/**
 * What `me` sees of `contact`, judged from my own relations (who approved me, who blocks me or whom I
 * block, who has me on their allow list) — so a PRESENCE GET needs no other user's relations.
 */
export function viewAsWatcher(
  me: Relations,
  contact: string,
  user: PresenceRecord | undefined,
  devices: readonly DeviceState[],
): Advertised {
  if (!me.approvedBy.has(contact) || blockedEitherWay(me, contact)) return OFFLINE;
  if (user?.status === Status.INVISIBLE && !me.allowedBy.has(contact)) return OFFLINE;
  return advertise(user, devices, "visible");
}
