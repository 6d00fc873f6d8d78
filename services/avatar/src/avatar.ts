// AVATAR (PROTOCOL.md §4.6): UPLOAD stores an image once by its SHA-1, SET makes it the user's
// avatar (their presence record gets the hash and watchers a PRESENCE UPDATE), GET serves an image
// by hash — from the process's byte-bounded cache when it can, so a popular avatar is not a
// database read per request.
import { AvatarError, AvatarTlv, AvatarType, GlobalError, Status, TlvWriter } from "@impp/protocol";
import { type PresenceDeps, publishPresence } from "@impp/roster";
import { errorReply, type Outcome, type Request, responseFrame, route, type Shape } from "@impp/service-kit";
import type { PresenceRecord, SessionStore } from "@impp/sessions";
import type { Avatars } from "./avatars.js";
import type { ByteLru } from "./cache.js";
import { imageKind, MAX_AVATAR_BYTES } from "./image.js";

export interface AvatarState {
  avatars: Avatars;
  /** Encoded GET bodies (AVATAR_SHA1 + DATA) by hex SHA-1. */
  cache: ByteLru;
  sessions: SessionStore;
  presence: PresenceDeps;
}

const SHA1_BYTES = 20;

const uploadShape = {
  data: { tlv: AvatarTlv.DATA, kind: "bytes", required: true, maxBytes: MAX_AVATAR_BYTES },
} as const satisfies Shape;
// 20 bytes, or empty to clear (checked in the handler: the kit's fixed length allows one size).
const setShape = {
  sha1: { tlv: AvatarTlv.AVATAR_SHA1, kind: "bytes", required: true, maxBytes: SHA1_BYTES },
} as const satisfies Shape;
// FROM and TO, which one client adds [clients], are not declared: ignored.
const getShape = {
  sha1: { tlv: AvatarTlv.AVATAR_SHA1, kind: "bytes", required: true, length: SHA1_BYTES },
} as const satisfies Shape;

/** The GET response's TLVs, encoded once per image and cached. */
export function getBody(sha1: Buffer, data: Buffer): Buffer {
  return new TlvWriter(data.length + 40)
    .bytes(AvatarTlv.AVATAR_SHA1, sha1)
    .bytes(AvatarTlv.DATA, data)
    .finish();
}

async function upload({ envelope: env, fields }: Request<typeof uploadShape>, state: AvatarState) {
  if (imageKind(fields.data) === undefined) return errorReply(env, GlobalError.INVALID_TLV_VALUE);
  const data = Buffer.from(fields.data); // the field is a view of the request's bytes
  const sha1 = await state.avatars.upload(data);
  // Whoever uploads it is about to SET it, and their contacts to GET it.
  state.cache.set(sha1.toString("hex"), getBody(sha1, data));
  return { actions: 0, frames: responseFrame(env, new TlvWriter(32).bytes(AvatarTlv.AVATAR_SHA1, sha1)) };
}

async function set(
  { envelope: env, fields }: Request<typeof setShape>,
  state: AvatarState,
): Promise<Outcome> {
  const raw = fields.sha1;
  if (raw.length !== 0 && raw.length !== SHA1_BYTES) return errorReply(env, GlobalError.INVALID_TLV_LENGTH);
  const sha1 = raw.length === 0 ? undefined : Buffer.from(raw);
  if (!(await state.avatars.set(env.account, sha1))) return errorReply(env, AvatarError.AVATAR_NOT_FOUND);
  // The user's presence record carries the hash (what PRESENCE GET and UPDATE show), written before
  // the answer so a PRESENCE GET after it sees the new avatar.
  const [record] = await state.sessions.getPresence([env.account]);
  const next: PresenceRecord = { ...(record ?? { status: Status.ONLINE }) };
  if (sha1 === undefined) delete next.avatarSha1;
  else next.avatarSha1 = sha1.toString("hex");
  await state.sessions.setPresence(env.account, next);
  return {
    reply: { actions: 0, frames: responseFrame(env, new TlvWriter(0)) },
    // Watchers and my other devices: a PRESENCE UPDATE with the new AVATAR_SHA1 (only when what they
    // are shown changed; this device has its answer).
    after: async () => {
      await publishPresence(state.presence, env.account, { exceptDevice: env.device });
    },
  };
}

async function get({ envelope: env, fields }: Request<typeof getShape>, state: AvatarState) {
  const sha1 = Buffer.from(fields.sha1);
  const body = await state.cache.get(sha1.toString("hex"), async () => {
    const data = await state.avatars.get(sha1);
    return data === undefined ? undefined : getBody(sha1, data);
  });
  if (body === undefined) return errorReply(env, AvatarError.AVATAR_NOT_FOUND);
  return { actions: 0, frames: responseFrame(env, new TlvWriter(body.length + 16).raw(body)) };
}

/** AVATAR (family 6). */
export const avatarRoutes = [
  route({ type: AvatarType.SET, session: "bound", shape: setShape, handle: set }),
  route({ type: AvatarType.GET, session: "bound", shape: getShape, handle: get }),
  route({ type: AvatarType.UPLOAD, session: "bound", shape: uploadShape, handle: upload }),
];
