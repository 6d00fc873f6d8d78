// LISTS (PROTOCOL.md §4.3): every request type as a route. Each change commits in Postgres, bumps
// both users' list tokens (so every cache of their relations is stale from now on), answers, and
// then tells: my other devices the same change as an indication, the other user what concerns
// them (an authorization request, an approval and my presence, what they now see of me).
import type { ReplyEnvelope, RequestEnvelope } from "@impp/bus";
import type { Config } from "@impp/config";
import { Family, Flags, ListsError, ListsTlv, ListsType, TlvWriter } from "@impp/protocol";
import { type Change, type Lists, type PresenceDeps, type RelationsCache, tellPair } from "@impp/roster";
import {
  deliverToAccount,
  deliveryTimeout,
  errorReply,
  type Outcome,
  type Request,
  responseFrame,
  route,
  type Shape,
} from "@impp/service-kit";
import type { SessionStore } from "@impp/sessions";
import type { Telemetry } from "@impp/telemetry";

export interface RosterState {
  lists: Lists;
  relations: RelationsCache;
  sessions: SessionStore;
  presence: PresenceDeps;
  config: Pick<Config, "limits" | "domain">;
  telemetry?: Telemetry | undefined;
}

/** §6: NICKNAME ≤ 128 bytes. */
export const MAX_NICKNAME_BYTES = 128;

/**
 * The target of a request: the list's own TLV, or TO (§4.3 [decision]); FROM is ignored — the
 * server knows who asks. A malformed address or one of another domain is ADDRESS_INVALID.
 */
const target = (tlv: number) =>
  ({
    address: {
      tlv,
      also: [ListsTlv.TO],
      kind: "address",
      required: true,
      invalid: ListsError.ADDRESS_INVALID,
    },
  }) as const satisfies Shape;

const contactShape = target(ListsTlv.CONTACT_ADDRESS);
const contactAddShape = {
  ...contactShape,
  nickname: { tlv: ListsTlv.NICKNAME, kind: "string", maxBytes: MAX_NICKNAME_BYTES, text: "name" },
} as const satisfies Shape;
const allowShape = target(ListsTlv.ALLOW_ADDRESS);
const blockShape = target(ListsTlv.BLOCK_ADDRESS);

function indication(type: number, body: TlvWriter): Buffer {
  return body.frame({ flags: Flags.INDICATION, family: Family.LISTS, type, sequence: 0 });
}

/** Frames to every device of `account` but `except`. Failures are logged: the change itself stands. */
async function tell(state: RosterState, account: string, frames: Buffer, except?: string): Promise<void> {
  const devices = await state.sessions.getDevices(account);
  if (devices.length === 0) return;
  const outcomes = await deliverToAccount(state.presence.bus, {
    account,
    devices,
    except,
    frames,
    timeoutMs: deliveryTimeout(state.config, state.presence.deliveryTimeoutMs),
  });
  for (const o of outcomes) {
    if (!o.ok)
      state.telemetry?.logger.warn(
        { err: o.error, edgeId: o.edgeId, account },
        "list indication not delivered",
      );
  }
}

/** My other devices see the change as I made it: FROM = me and the list TLV (and NICKNAME). */
function echoToMyDevices(
  state: RosterState,
  env: RequestEnvelope,
  listTlv: number,
  address: string,
  nickname = "",
) {
  const body = new TlvWriter(96).string(ListsTlv.FROM, env.account).string(listTlv, address);
  if (nickname !== "") body.string(ListsTlv.NICKNAME, nickname);
  return tell(state, env.account, indication(env.type, body), env.device);
}

const ok = (env: RequestEnvelope, body = new TlvWriter(0)): ReplyEnvelope => ({
  actions: 0,
  frames: responseFrame(env, body),
});

/**
 * The common shape of a change: refused → the protocol's error; done → both users' tokens bumped
 * before the answer (the consistency rule of docs/architecture.md), then the follow-up.
 */
async function commit<T>(
  state: RosterState,
  env: RequestEnvelope,
  other: string,
  change: Change<T>,
  reply: ReplyEnvelope,
  after: (done: { ok: true } & T) => Promise<void>,
): Promise<Outcome> {
  if (!change.ok) {
    state.telemetry?.logger.debug(
      { account: env.account, other, reason: change.reason },
      "list change refused",
    );
    return errorReply(env, change.code);
  }
  await state.sessions.bumpListTokens([env.account, other]);
  return { reply, after: () => after(change) };
}

async function authRequestTo(state: RosterState, me: string, other: string, nickname: string): Promise<void> {
  const [record] = await state.sessions.getPresence([me]);
  const body = new TlvWriter(128).string(ListsTlv.FROM, me);
  if (nickname !== "") body.string(ListsTlv.NICKNAME, nickname);
  if (record?.avatarSha1) body.bytes(ListsTlv.AVATAR_SHA1, Buffer.from(record.avatarSha1, "hex"));
  await tell(state, other, indication(ListsType.CONTACT_AUTH_REQUEST, body));
}

async function get({ envelope: env }: Request<Record<string, never>>, state: RosterState): Promise<Outcome> {
  const tokens = await state.sessions.listTokens([env.account]);
  const [r] = await state.relations.get([env.account], tokens);
  const sorted = (xs: Iterable<string>) => [...xs].sort();
  const contacts = sorted(r!.contacts.keys());
  const pending = sorted(r!.pending);
  const allow = sorted(r!.allow);
  const block = sorted(r!.blocks);
  const body = new TlvWriter(64 + 70 * (contacts.length + pending.length + allow.length + block.length));
  for (const a of contacts) body.string(ListsTlv.CONTACT_ADDRESS, a);
  for (const a of pending) body.string(ListsTlv.PENDING_ADDRESS, a);
  for (const a of allow) body.string(ListsTlv.ALLOW_ADDRESS, a);
  for (const a of block) body.string(ListsTlv.BLOCK_ADDRESS, a);
  return ok(env, body);
}

async function contactAdd({ envelope: env, fields }: Request<typeof contactAddShape>, state: RosterState) {
  const nickname = fields.nickname ?? "";
  const change = await state.lists.contactAdd(env.account, fields.address, nickname);
  const reply = ok(env, new TlvWriter(80).string(ListsTlv.CONTACT_ADDRESS, fields.address));
  return commit(state, env, fields.address, change, reply, async (done) => {
    await echoToMyDevices(state, env, ListsTlv.CONTACT_ADDRESS, fields.address, nickname);
    if (done.authRequested) await authRequestTo(state, env.account, fields.address, nickname);
    // Approved already: I see them from now on.
    if (done.approved) await tellPair(state.presence, env.account, fields.address);
  });
}

async function contactRemove({ envelope: env, fields }: Request<typeof contactShape>, state: RosterState) {
  const change = await state.lists.contactRemove(env.account, fields.address);
  return commit(state, env, fields.address, change, ok(env), async (done) => {
    await echoToMyDevices(state, env, ListsTlv.CONTACT_ADDRESS, fields.address);
    // They no longer see me: tell them (OFFLINE).
    if (done.revoked) await tellPair(state.presence, env.account, fields.address);
  });
}

async function authRequest({ envelope: env, fields }: Request<typeof contactShape>, state: RosterState) {
  const change = await state.lists.authRequest(env.account, fields.address);
  return commit(state, env, fields.address, change, ok(env), async (done) => {
    if (done.filed) {
      const nickname = await state.lists.contactNickname(env.account, fields.address);
      await authRequestTo(state, env.account, fields.address, nickname);
    }
  });
}

async function approve({ envelope: env, fields }: Request<typeof contactShape>, state: RosterState) {
  const change = await state.lists.approve(env.account, fields.address);
  return commit(state, env, fields.address, change, ok(env), async (done) => {
    if (!done.changed) return;
    await echoToMyDevices(state, env, ListsTlv.CONTACT_ADDRESS, fields.address);
    // CONTACT_APPROVED first, then my current presence (§4.3): the second waits for the first's ack.
    const approved = indication(
      ListsType.CONTACT_APPROVED,
      new TlvWriter(80).string(ListsTlv.FROM, env.account),
    );
    await tell(state, fields.address, approved);
    await tellPair(state.presence, env.account, fields.address);
  });
}

async function deny({ envelope: env, fields }: Request<typeof contactShape>, state: RosterState) {
  const change = await state.lists.deny(env.account, fields.address);
  // The denied user is not told (§4.3 [decision]).
  return commit(state, env, fields.address, change, ok(env), () =>
    echoToMyDevices(state, env, ListsTlv.CONTACT_ADDRESS, fields.address),
  );
}

function listChange(list: "allow" | "block", adding: boolean) {
  const tlv = list === "allow" ? ListsTlv.ALLOW_ADDRESS : ListsTlv.BLOCK_ADDRESS;
  return async ({ envelope: env, fields }: Request<typeof allowShape>, state: RosterState) => {
    const change = adding
      ? await state.lists.add(list, env.account, fields.address)
      : await state.lists.remove(list, env.account, fields.address);
    return commit(state, env, fields.address, change, ok(env), async () => {
      await echoToMyDevices(state, env, tlv, fields.address);
      // What each now sees of the other changed (a block hides both ways; the allow list matters
      // while I am invisible).
      await tellPair(state.presence, env.account, fields.address);
    });
  };
}

/** LISTS (family 3). CONTACT_APPROVED is an indication only: as a request it is an unknown type. */
export const listsRoutes = [
  route({ type: ListsType.GET, session: "bound", shape: {}, handle: get }),
  route({ type: ListsType.CONTACT_ADD, session: "bound", shape: contactAddShape, handle: contactAdd }),
  route({ type: ListsType.CONTACT_REMOVE, session: "bound", shape: contactShape, handle: contactRemove }),
  route({ type: ListsType.CONTACT_AUTH_REQUEST, session: "bound", shape: contactShape, handle: authRequest }),
  route({ type: ListsType.CONTACT_APPROVE, session: "bound", shape: contactShape, handle: approve }),
  route({ type: ListsType.CONTACT_DENY, session: "bound", shape: contactShape, handle: deny }),
  route({
    type: ListsType.ALLOW_ADD,
    session: "bound",
    shape: allowShape,
    handle: listChange("allow", true),
  }),
  route({
    type: ListsType.ALLOW_REMOVE,
    session: "bound",
    shape: allowShape,
    handle: listChange("allow", false),
  }),
  route({
    type: ListsType.BLOCK_ADD,
    session: "bound",
    shape: blockShape,
    handle: listChange("block", true),
  }),
  route({
    type: ListsType.BLOCK_REMOVE,
    session: "bound",
    shape: blockShape,
    handle: listChange("block", false),
  }),
];
