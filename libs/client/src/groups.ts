// Blocks for the AVATAR and GROUP_CHATS requests (tests, benchmark, tools).
import { AvatarTlv, GroupChatsTlv, TlvWriter } from "@impp/protocol";

export interface GroupRequest {
  name?: string;
  members?: readonly string[];
  message?: string | Buffer;
  /** GET: replay messages newer than this (ms). */
  timestamp?: number;
}

/** A GROUP_CHATS block: NAME, MEMBER…, MESSAGE, TIMESTAMP — whichever are given. */
export function groupBlock(r: GroupRequest): TlvWriter {
  const w = new TlvWriter();
  if (r.name !== undefined) w.string(GroupChatsTlv.NAME, r.name);
  for (const m of r.members ?? []) w.string(GroupChatsTlv.MEMBER, m);
  if (r.message !== undefined)
    w.bytes(GroupChatsTlv.MESSAGE, Buffer.isBuffer(r.message) ? r.message : Buffer.from(r.message, "utf8"));
  if (r.timestamp !== undefined) w.u64(GroupChatsTlv.TIMESTAMP, r.timestamp);
  return w;
}

/** An AVATAR block: AVATAR_SHA1 and/or DATA. */
export function avatarBlock(r: { sha1?: Buffer; data?: Buffer }): TlvWriter {
  const w = new TlvWriter((r.data?.length ?? 0) + 32);
  if (r.sha1 !== undefined) w.bytes(AvatarTlv.AVATAR_SHA1, r.sha1);
  if (r.data !== undefined) w.bytes(AvatarTlv.DATA, r.data);
  return w;
}
