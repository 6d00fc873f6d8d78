// Telling watchers: the advertised presence of a user, fanned out to everyone allowed to see it in
// one delivery per edge, and what one user sees of another after their lists changed. Used by the
// presence module (PRESENCE SET, device changes, dead edges) and the roster (approve, block, …).
import type { Bus } from "@impp/bus";
import type { Config } from "@impp/config";
import { Family, Flags, PresenceTlv, PresenceType, Status, TlvWriter } from "@impp/protocol";
import { deliverToAccount, deliverToMany, deliveryTimeout } from "@impp/service-kit";
import type { PresenceRecord, ReadonlyDevice, SessionStore } from "@impp/sessions";
import type { Telemetry } from "@impp/telemetry";
import { blockedEitherWay, type RelationsCache } from "./relations.js";
import { type Advertised, advertise, fingerprint, viewAsWatcher } from "./rules.js";

export interface PresenceDeps {
  bus: Bus;
  sessions: SessionStore;
  relations: RelationsCache;
  config: Pick<Config, "limits">;
  telemetry?: Telemetry | undefined;
  deliveryTimeoutMs?: number | undefined;
}

/** The PRESENCE UPDATE indication (§4.5) of `from` as `a` says. */
export function presenceUpdateFrame(from: string, a: Advertised): Buffer {
  return presenceBody(from, a).frame({
    flags: Flags.INDICATION,
    family: Family.PRESENCE,
    type: PresenceType.UPDATE,
    sequence: 0,
  });
}

/** The TLVs of a presence (UPDATE indication, GET response): FROM, STATUS, … */
export function presenceBody(from: string, a: Advertised): TlvWriter {
  const w = new TlvWriter(
    96 + a.statusMessage.length * 3 + a.nickname.length * 3 + a.capabilities.length * 2,
  );
  w.string(PresenceTlv.FROM, from)
    .u16(PresenceTlv.STATUS, a.status)
    .string(PresenceTlv.STATUS_MESSAGE, a.statusMessage)
    .u8(PresenceTlv.IS_STATUS_AUTOMATIC, a.isStatusAutomatic ? 1 : 0);
  if (a.avatarSha1 !== "") w.bytes(PresenceTlv.AVATAR_SHA1, Buffer.from(a.avatarSha1, "hex"));
  if (a.nickname !== "") w.string(PresenceTlv.NICKNAME, a.nickname);
  w.u16list(PresenceTlv.CAPABILITIES, a.capabilities);
  return w;
}

function timeout(deps: PresenceDeps): number {
  return deliveryTimeout(deps.config, deps.deliveryTimeoutMs);
}

async function fanOut(
  deps: PresenceDeps,
  accounts: readonly string[],
  devices: readonly (readonly ReadonlyDevice[])[],
  frames: Uint8Array,
): Promise<void> {
  const recipients = accounts
    .map((account, i) => ({ account, devices: devices[i] ?? [] }))
    .filter((r) => r.devices.length > 0);
  if (recipients.length === 0) return;
  const outcomes = await deliverToMany(deps.bus, { recipients, frames, timeoutMs: timeout(deps) });
  for (const o of outcomes) {
    deps.telemetry?.metrics.deliveries.inc({ result: o.ok ? "presence" : "presence_failed" });
    if (!o.ok)
      deps.telemetry?.logger.warn({ err: o.error, edgeId: o.edgeId }, "presence update not delivered");
  }
}

export interface PublishOptions {
  /** Send even if the advertised presence did not change (a watcher newly allowed, …). */
  force?: boolean;
  /** The user's device that caused the change: it got a response, not an indication. */
  exceptDevice?: string;
}

/**
 * Recomputes `account`'s advertised presence and, when it changed since watchers were last told,
 * tells them — every connected device of every watcher allowed to see it (OFFLINE to those who may
 * not see through invisibility) — and the user's own other devices. One delivery per edge.
 * Returns whether anything was sent.
 */
export async function publishPresence(
  deps: PresenceDeps,
  account: string,
  opts: PublishOptions = {},
): Promise<boolean> {
  const [{ devices, tokens }, [record]] = await Promise.all([
    deps.sessions.getDevicesAndListTokens([account], [account]),
    deps.sessions.getPresence([account]),
  ]);
  const own = devices[0]!;
  const visible = advertise(record, own, "visible");
  const invisible = record?.status === Status.INVISIBLE && own.length > 0;
  const fp = fingerprint(visible, invisible);
  if (!opts.force && record?.advertised === fp) return false;
  const base: PresenceRecord = record ?? { status: own.at(-1)?.status ?? Status.ONLINE };
  await deps.sessions.setPresence(account, { ...base, advertised: fp });

  const [relations] = await deps.relations.get([account], tokens);
  const watchers = [...relations!.approved].filter((w) => !blockedEitherWay(relations!, w));
  const seeing = invisible ? watchers.filter((w) => relations!.allow.has(w)) : watchers;
  const hidden = invisible ? watchers.filter((w) => !relations!.allow.has(w)) : [];
  const watcherDevices = await deps.sessions.getDevicesMany([...seeing, ...hidden]);
  const selfView = advertise(record, own, "self");
  const others = opts.exceptDevice === undefined ? own : own.filter((d) => d.name !== opts.exceptDevice);
  await Promise.all([
    fanOut(deps, seeing, watcherDevices.slice(0, seeing.length), presenceUpdateFrame(account, visible)),
    fanOut(
      deps,
      hidden,
      watcherDevices.slice(seeing.length),
      presenceUpdateFrame(account, advertise(undefined, [], "visible")),
    ),
    others.length === 0
      ? undefined
      : deliverOwn(deps, account, others, opts.exceptDevice, presenceUpdateFrame(account, selfView)),
  ]);
  return true;
}

async function deliverOwn(
  deps: PresenceDeps,
  account: string,
  devices: readonly ReadonlyDevice[],
  except: string | undefined,
  frames: Uint8Array,
): Promise<void> {
  const outcomes = await deliverToAccount(deps.bus, {
    account,
    devices,
    except,
    frames,
    timeoutMs: timeout(deps),
  });
  for (const o of outcomes) {
    if (!o.ok)
      deps.telemetry?.logger.warn({ err: o.error, edgeId: o.edgeId }, "own presence update not delivered");
  }
}

/** What `watcher` sees now of each of `contacts` (PRESENCE GET): judged from the watcher's relations. */
export async function viewsOf(
  deps: PresenceDeps,
  watcher: string,
  contacts: readonly string[],
): Promise<Array<{ contact: string; view: Advertised }>> {
  const [{ devices, tokens }, records] = await Promise.all([
    deps.sessions.getDevicesAndListTokens(contacts, [watcher]),
    deps.sessions.getPresence(contacts),
  ]);
  const [me] = await deps.relations.get([watcher], tokens);
  return contacts.map((contact, i) => ({
    contact,
    view: viewAsWatcher(me!, contact, records[i], devices[i]!),
  }));
}

/**
 * After a list change between `a` and `b`: each of them whose contact list holds the other is sent
 * what they now see of the other (a block or a revoked approval shows OFFLINE, an approval the
 * current presence). Tokens must already be bumped.
 */
export async function tellPair(deps: PresenceDeps, a: string, b: string): Promise<void> {
  const [{ devices, tokens }, records] = await Promise.all([
    deps.sessions.getDevicesAndListTokens([a, b], [a, b]),
    deps.sessions.getPresence([a, b]),
  ]);
  const [ra, rb] = await deps.relations.get([a, b], tokens);
  const sends: Array<Promise<void>> = [];
  if (ra!.contacts.has(b) && devices[0]!.length > 0) {
    const view = viewAsWatcher(ra!, b, records[1], devices[1]!);
    sends.push(fanOut(deps, [a], [devices[0]!], presenceUpdateFrame(b, view)));
  }
  if (rb!.contacts.has(a) && devices[1]!.length > 0) {
    const view = viewAsWatcher(rb!, a, records[0], devices[0]!);
    sends.push(fanOut(deps, [b], [devices[1]!], presenceUpdateFrame(a, view)));
  }
  await Promise.all(sends);
}
