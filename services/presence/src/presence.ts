// PRESENCE (PROTOCOL.md §4.5): SET, GET, and the user-level status that BIND/UPDATE feed. The
// advertised presence, who may see it and the fan-out are the roster manager's (@impp/roster),
// shared with the roster module, which tells users what they see of each other after list changes.
import { DeliveryFilter } from "@impp/bus";
import { GlobalError, PresenceTlv, PresenceType, Status, TlvWriter } from "@impp/protocol";
import { type PresenceDeps, presenceBody, presenceUpdateFrame, publishPresence, viewsOf } from "@impp/roster";
import {
  deliver,
  deliveryTimeout,
  errorReply,
  type Outcome,
  type Request,
  responseFrame,
  route,
  type Shape,
} from "@impp/service-kit";
import type { PresenceRecord, SessionStore } from "@impp/sessions";
import type { StatusPatch } from "./device.js";
import { MAX_CAPABILITIES, MAX_CAPABILITY, MAX_STATUS_MESSAGE_BYTES } from "./fields.js";

/** §6: NICKNAME ≤ 128 bytes. */
export const MAX_NICKNAME_BYTES = 128;

export interface PresenceFamilyState {
  presence: PresenceDeps;
  sessions: SessionStore;
}

export const setShape = {
  // MOBILE is the server's to advertise (§4.2), never a client's to set.
  status: { tlv: PresenceTlv.STATUS, kind: "u16", max: Status.INVISIBLE },
  statusMessage: {
    tlv: PresenceTlv.STATUS_MESSAGE,
    kind: "string",
    maxBytes: MAX_STATUS_MESSAGE_BYTES,
    text: "multiline",
  },
  isStatusAutomatic: { tlv: PresenceTlv.IS_STATUS_AUTOMATIC, kind: "flag" },
  nickname: { tlv: PresenceTlv.NICKNAME, kind: "string", maxBytes: MAX_NICKNAME_BYTES, text: "name" },
  // 20 bytes, or empty to clear.
  avatarSha1: { tlv: PresenceTlv.AVATAR_SHA1, kind: "bytes", maxBytes: 20 },
  capabilities: {
    tlv: PresenceTlv.CAPABILITIES,
    kind: "u16list",
    min: 1,
    max: MAX_CAPABILITY,
    maxItems: MAX_CAPABILITIES,
  },
} as const satisfies Shape;

const getShape = { to: { tlv: PresenceTlv.TO, kind: "address" } } as const satisfies Shape;

/** Merges a status change into the user's presence record (read, merge, write). */
export async function applyStatus(
  sessions: SessionStore,
  account: string,
  patch: StatusPatch & { nickname?: string; avatarSha1?: string },
): Promise<void> {
  const keys = Object.keys(patch);
  if (keys.length === 0) return;
  const [record] = await sessions.getPresence([account]);
  const next: PresenceRecord = { ...(record ?? { status: Status.ONLINE }) };
  if (patch.status !== undefined) next.status = patch.status;
  if ("statusMessage" in patch) {
    if (patch.statusMessage === undefined || patch.statusMessage === "") delete next.statusMessage;
    else next.statusMessage = patch.statusMessage;
  }
  if (patch.isStatusAutomatic !== undefined) next.isStatusAutomatic = patch.isStatusAutomatic;
  if (patch.nickname !== undefined) {
    if (patch.nickname === "") delete next.nickname;
    else next.nickname = patch.nickname;
  }
  if (patch.avatarSha1 !== undefined) {
    if (patch.avatarSha1 === "") delete next.avatarSha1;
    else next.avatarSha1 = patch.avatarSha1;
  }
  await sessions.setPresence(account, next);
}

async function set(
  { envelope: env, fields }: Request<typeof setShape>,
  state: PresenceFamilyState,
): Promise<Outcome> {
  if (fields.avatarSha1 !== undefined && fields.avatarSha1.length !== 0 && fields.avatarSha1.length !== 20) {
    return errorReply(env, GlobalError.INVALID_TLV_LENGTH);
  }
  const patch: StatusPatch & { nickname?: string; avatarSha1?: string } = {};
  if (fields.status !== undefined) patch.status = fields.status;
  if (fields.statusMessage !== undefined) patch.statusMessage = fields.statusMessage;
  if (fields.isStatusAutomatic !== undefined) patch.isStatusAutomatic = fields.isStatusAutomatic;
  if (fields.nickname !== undefined) patch.nickname = fields.nickname;
  if (fields.avatarSha1 !== undefined) patch.avatarSha1 = fields.avatarSha1.toString("hex");
  // CAPABILITIES are accepted and not stored: a device's capabilities are what it declared with
  // DEVICE BIND/UPDATE, and the advertised ones are the union of those (docs/protocol-notes.md).
  await applyStatus(state.sessions, env.account, patch);
  return {
    reply: { actions: 0, frames: responseFrame(env, new TlvWriter(0)) },
    after: async () => {
      await publishPresence(state.presence, env.account, { exceptDevice: env.device });
    },
  };
}

async function get(
  { envelope: env, fields }: Request<typeof getShape>,
  state: PresenceFamilyState,
): Promise<Outcome> {
  if (fields.to !== undefined) {
    // Their presence as I may see it (OFFLINE when I may not).
    const [v] = await viewsOf(state.presence, env.account, [fields.to]);
    return { actions: 0, frames: responseFrame(env, presenceBody(fields.to, v!.view)) };
  }
  // An empty response, then one UPDATE per contact (§4.5: clients rely on these), to this device.
  return {
    reply: { actions: 0, frames: responseFrame(env, new TlvWriter(0)) },
    after: async () => {
      const tokens = await state.sessions.listTokens([env.account]);
      const [me] = await state.presence.relations.get([env.account], tokens);
      const contacts = [...me!.contacts.keys()].sort();
      if (contacts.length === 0) return;
      const views = await viewsOf(state.presence, env.account, contacts);
      const frames = Buffer.concat(views.map((v) => presenceUpdateFrame(v.contact, v.view)));
      const out = await deliver(
        state.presence.bus,
        env.edgeId,
        {
          account: env.account,
          filter: DeliveryFilter.ONLY_DEVICE,
          device: env.device,
          capability: 0,
          closeAfter: false,
          frames,
        },
        deliveryTimeout(state.presence.config, state.presence.deliveryTimeoutMs),
      );
      if (!out.ok)
        state.presence.telemetry?.logger.warn(
          { err: out.error, edgeId: out.edgeId },
          "presence of contacts not delivered",
        );
    },
  };
}

/** PRESENCE (family 5). UPDATE is an indication only: as a request it is an unknown type. */
export const presenceRoutes = [
  route({ type: PresenceType.SET, session: "bound", shape: setShape, handle: set }),
  route({ type: PresenceType.GET, session: "bound", shape: getShape, handle: get }),
];
