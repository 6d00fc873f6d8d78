// DEVICE family (PROTOCOL.md §4.2): BIND, UPDATE, UNBIND, plus the implicit unbinds (connection
// closed, edge dead). Request → reply functions over the session store and the bus; no sockets.
import type { Bus, RequestEnvelope } from "@impp/bus";
import { DeliveryFilter, ReplyAction } from "@impp/bus";
import type { Config } from "@impp/config";
import {
  DeviceError,
  DeviceTlv,
  DeviceType,
  Family,
  Flags,
  GlobalError,
  Status,
  TlvWriter,
} from "@impp/protocol";
import {
  deliveryTimeout as ackTimeout,
  deliver,
  deliverToAccount,
  errorFrame,
  errorReply,
  type Outcome,
  type Request,
  responseFrame,
  route,
} from "@impp/service-kit";
import { type DevicePatch, type DeviceRecord, encodeDevice, type SessionStore } from "@impp/sessions";
import type { Telemetry } from "@impp/telemetry";
import { checkClient } from "./client-policy.js";
import { bindShape, clientOf, patchOf, unbindShape, updateShape } from "./fields.js";
import { tupleFor } from "./servers.js";

export interface DeviceDeps {
  bus: Bus;
  sessions: SessionStore;
  config: Pick<Config, "limits" | "bannedClients">;
  telemetry?: Telemetry;
  /** Server clock in ms (tests); default Date.now. */
  now?: () => number;
  /** How long to wait for an edge to ack an indication. Default: half the edge's request timeout, at most 2 s. */
  deliveryTimeoutMs?: number;
  /**
   * Told after a device of `account` changed (bound, updated, gone): the user-level status a BIND or
   * UPDATE carried, and the device that caused it. The presence module recomputes the advertised
   * presence and tells the watchers (§4.5). Optional: DEVICE works without it.
   */
  onPresence?: (account: string, status: StatusPatch, exceptDevice?: string) => Promise<void>;
  /**
   * edge id → that edge's public address, learned from the requests this instance sees (every
   * envelope carries both), so other devices' tuples can carry SERVER too. Optional.
   */
  servers?: Map<string, string>;
}

/** What a BIND/UPDATE says of the user-level status (§4.5: the last PRESENCE SET or device STATUS). */
export type StatusPatch = Partial<Pick<DevicePatch, "status" | "statusMessage" | "isStatusAutomatic">>;

function statusOf(p: DevicePatch): StatusPatch {
  const out: StatusPatch = {};
  if (p.status !== undefined) out.status = p.status;
  if ("statusMessage" in p) out.statusMessage = p.statusMessage;
  if (p.isStatusAutomatic !== undefined) out.isStatusAutomatic = p.isStatusAutomatic;
  return out;
}

/** Tells the presence side a device of `account` changed; its failure is logged, never the requester's. */
export async function presenceChanged(
  deps: DeviceDeps,
  account: string,
  status: StatusPatch = {},
  exceptDevice?: string,
): Promise<void> {
  if (deps.onPresence === undefined) return;
  try {
    await deps.onPresence(account, status, exceptDevice);
  } catch (err) {
    deps.telemetry?.logger.warn({ err, account }, "presence not updated after a device change");
  }
}

export function deliveryTimeout(deps: DeviceDeps): number {
  return ackTimeout(deps.config, deps.deliveryTimeoutMs);
}

function indication(type: number, body: TlvWriter): Buffer {
  return body.frame({ flags: Flags.INDICATION, family: Family.DEVICE, type, sequence: 0 });
}

export function updateIndication(tuple: Uint8Array): Buffer {
  return indication(DeviceType.UPDATE, new TlvWriter(tuple.length + 8).nested(DeviceTlv.DEVICE_TUPLE, tuple));
}

export function unbindIndication(deviceName: string): Buffer {
  return indication(DeviceType.UNBIND, new TlvWriter(80).string(DeviceTlv.DEVICE_NAME, deviceName));
}

/**
 * Sends `frames` to `recipients` (devices of `account`), one delivery per edge, all edges at once, and
 * waits for the acks. `except` is left out on every edge (the requester: it gets a response instead).
 * A failed delivery is logged, never fatal: the device is either gone already or its edge is dying,
 * and presence cleanup will tell the others.
 */
export async function tellDevices(
  deps: DeviceDeps,
  account: string,
  recipients: readonly DeviceRecord[],
  frames: Uint8Array,
  except?: string,
): Promise<void> {
  const outcomes = await deliverToAccount(deps.bus, {
    account,
    devices: recipients,
    except,
    frames,
    timeoutMs: deliveryTimeout(deps),
  });
  for (const o of outcomes) {
    deps.telemetry?.metrics.deliveries.inc({ result: o.ok ? "indication" : "indication_failed" });
    if (!o.ok)
      deps.telemetry?.logger.warn(
        { err: o.error, edgeId: o.edgeId, account },
        "device indication not delivered",
      );
  }
}

function learnServer(deps: DeviceDeps, req: RequestEnvelope): string {
  const server = req.server !== "" ? req.server : req.edgeId;
  const map = deps.servers;
  if (map !== undefined && req.server !== "" && map.get(req.edgeId) !== req.server) {
    // Bounded: edge ids change on every restart; an old mapping costs nothing but memory.
    if (map.size >= 4096) map.clear();
    map.set(req.edgeId, req.server);
  }
  return server;
}

async function bind(
  { envelope: req, fields }: Request<typeof bindShape>,
  deps: DeviceDeps,
): Promise<Outcome> {
  const client = clientOf(fields);
  const refusal = checkClient(deps.config.bannedClients, client);
  if (refusal !== undefined) {
    const suggestion =
      refusal.upgradeTo === undefined
        ? undefined
        : new TlvWriter(32).string(DeviceTlv.CLIENT_VERSION, refusal.upgradeTo).finish();
    return { actions: 0, frames: errorFrame(req, DeviceError.CLIENT_INVALID, suggestion) };
  }
  const wish = fields.deviceName ?? "";
  const state = patchOf(fields);

  const server = learnServer(deps, req);
  const record: Omit<DeviceRecord, "name"> = {
    account: req.account,
    edgeId: req.edgeId,
    connId: req.connId,
    remoteAddress: req.remoteAddress,
    connectedAt: (deps.now ?? Date.now)(),
    ...client,
    status: state.status ?? Status.ONLINE,
    capabilities: state.capabilities ?? [],
    isIdle: state.isIdle ?? false,
    isMobile: state.isMobile ?? false,
    isStatusAutomatic: state.isStatusAutomatic ?? false,
  };
  if (state.statusMessage !== undefined) record.statusMessage = state.statusMessage;
  // Stored with the device, so every later tuple of it carries SERVER, whichever presence instance builds it.
  if (req.server !== "") record.server = req.server;
  const bound = await deps.sessions.bindDevice(record, wish, deps.config.limits.devicesPerUser);
  if (!bound.ok) {
    if (bound.error.kind === "TOO_MANY_DEVICES") return errorReply(req, DeviceError.TOO_MANY_DEVICES);
    throw bound.error;
  }
  const me = bound.device;
  const myTuple = tupleFor(me, deps.servers, req.edgeId, server);
  const body = new TlvWriter(256 + 256 * bound.devices.length)
    .string(DeviceTlv.DEVICE_NAME, me.name)
    .string(DeviceTlv.IP_ADDRESS, me.remoteAddress)
    .u64(DeviceTlv.CONNECTED_AT, Math.trunc(me.connectedAt))
    .string(DeviceTlv.SERVER, server);
  for (const d of bound.devices) {
    body.nested(
      DeviceTlv.DEVICE_TUPLE,
      d.name === me.name ? myTuple : tupleFor(d, deps.servers, req.edgeId, server),
    );
  }
  const others = bound.devices.filter((d) => d.name !== me.name);
  return {
    reply: {
      actions: ReplyAction.SET_DEVICE | ReplyAction.SET_CAPABILITIES | ReplyAction.DEVICE_RECORD,
      device: me.name,
      capabilities: me.capabilities,
      // The edge keeps it, to register the device again if the live state loses it.
      record: encodeDevice(me),
      frames: responseFrame(req, body),
    },
    // The other devices hear of it after the new one has its answer; then the watchers.
    after: async () => {
      await tellDevices(deps, req.account, others, updateIndication(myTuple), me.name);
      await presenceChanged(deps, req.account, statusOf(state), me.name);
    },
  };
}

function isEmptyPatch(p: DevicePatch): boolean {
  return Object.keys(p).length === 0;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function update(
  { envelope: req, fields }: Request<typeof updateShape>,
  deps: DeviceDeps,
): Promise<Outcome> {
  const patch = patchOf(fields);
  const server = learnServer(deps, req);
  const empty = { actions: 0, frames: responseFrame(req, new TlvWriter(0)) };
  if (isEmptyPatch(patch)) return empty;
  const ok = (updated: DeviceRecord) => ({
    actions: ReplyAction.DEVICE_RECORD,
    record: encodeDevice(updated),
    frames: empty.frames,
  });
  const updated = await deps.sessions.updateDevice(req.account, req.device, patch);
  // Gone from the registry (cleaned up as dead, or unbound by another device): not bound any more.
  if (updated === undefined) return errorReply(req, GlobalError.INVALID_STATE);
  const tuple = tupleFor(updated, deps.servers, req.edgeId, server);
  const after = async () => {
    const devices = await deps.sessions.getDevices(req.account);
    await tellDevices(deps, req.account, devices, updateIndication(tuple), req.device);
    await presenceChanged(deps, req.account, statusOf(patch), req.device);
  };
  // The edge's copy of the record follows the update.
  const reply = ok(updated);
  if (patch.capabilities !== undefined && !sameList(patch.capabilities, req.capabilities)) {
    return {
      reply: {
        ...reply,
        actions: reply.actions | ReplyAction.SET_CAPABILITIES,
        capabilities: updated.capabilities,
      },
      after,
    };
  }
  return { reply, after };
}

async function unbind(
  { envelope: req, fields }: Request<typeof unbindShape>,
  deps: DeviceDeps,
): Promise<Outcome> {
  const named = fields.deviceName ?? "";
  learnServer(deps, req);
  const ok = responseFrame(req, new TlvWriter(0));

  if (named === "" || named === req.device) {
    const removed = await deps.sessions.unbindDevice(req.account, req.device, req.connId);
    // Respond, then the edge forgets the device and closes (§4.2: MUST respond, then disconnect);
    // the remaining devices hear of it after.
    const reply = { actions: ReplyAction.CLEAR_DEVICE | ReplyAction.CLOSE_AFTER, frames: ok };
    if (removed === undefined) return reply;
    return {
      reply,
      after: async () => {
        const rest = await deps.sessions.getDevices(req.account);
        await tellDevices(deps, req.account, rest, unbindIndication(req.device), req.device);
        await presenceChanged(deps, req.account);
      },
    };
  }

  const target = await deps.sessions.getDevice(req.account, named);
  if (target === undefined) return errorReply(req, GlobalError.INVALID_TLV_VALUE);
  const frame = unbindIndication(target.name);
  // Remove before kicking: the kicked connection's close makes its edge report device-gone, and
  // that report must find nothing left to announce — else the requester would hear of it too.
  const removed = await deps.sessions.unbindDevice(req.account, target.name, target.connId);
  const kicked = await deliver(
    deps.bus,
    target.edgeId,
    {
      account: req.account,
      filter: DeliveryFilter.ONLY_DEVICE,
      device: target.name,
      capability: 0,
      closeAfter: true,
      frames: frame,
    },
    deliveryTimeout(deps),
  );
  if (!kicked.ok) {
    deps.telemetry?.logger.warn(
      { err: kicked.error, edgeId: target.edgeId },
      "UNBIND of another device not delivered",
    );
  }
  // Removed whatever the edge said: the requester asked for it, and a dead edge's device must go too.
  const reply = { actions: 0, frames: ok };
  if (removed === undefined) return reply;
  return {
    reply,
    after: async () => {
      const rest = await deps.sessions.getDevices(req.account);
      await tellDevices(deps, req.account, rest, frame, req.device);
      await presenceChanged(deps, req.account);
    },
  };
}

/** DEVICE (family 2): BIND, UPDATE, UNBIND. */
export const deviceRoutes = [
  route({ type: DeviceType.BIND, session: "authenticated", shape: bindShape, handle: bind }),
  route({ type: DeviceType.UPDATE, session: "bound", shape: updateShape, handle: update }),
  route({ type: DeviceType.UNBIND, session: "bound", shape: unbindShape, handle: unbind }),
];

/**
 * A device left without UNBIND (its connection closed): remove it if it is still the one `connId`
 * bound — a late close must not remove a newer device of the same name — and tell the account's
 * remaining devices. Returns whether it was removed.
 */
export async function deviceGone(
  deps: DeviceDeps,
  account: string,
  device: string,
  connId: string,
): Promise<boolean> {
  const removed = await deps.sessions.unbindDevice(account, device, connId);
  if (removed === undefined) return false;
  const rest = await deps.sessions.getDevices(account);
  await tellDevices(deps, account, rest, unbindIndication(device));
  await presenceChanged(deps, account);
  return true;
}
