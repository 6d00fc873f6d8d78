// GROUP_CHATS (PROTOCOL.md §4.7): server-backed groups. Membership and history live in Postgres;
// contact and block checks go through the roster manager's cached relations. Order: every change
// to one group runs through a per-group queue in this process (store, then queue its fan-out), and
// the fan-out of one group is published in that same order — one delivery per edge per message —
// so members see a group's messages in the order they were stored.
import { type Bus, DeliveryFilter } from "@impp/bus";
import type { Config } from "@impp/config";
import {
  Family,
  Flags,
  GlobalError,
  GroupChatsError,
  GroupChatsTlv,
  GroupChatsType,
  TlvWriter,
} from "@impp/protocol";
import { blockedEitherWay, type RelationsCache } from "@impp/roster";
import {
  type DeliveryOutcome,
  deliver,
  deliverToMany,
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
import type { Groups, GroupView, StoredMessage } from "./groups.js";
import type { PerKey } from "./order.js";

export interface GroupState {
  groups: Groups;
  relations: RelationsCache;
  sessions: SessionStore;
  bus: Bus;
  config: Pick<Config, "limits">;
  telemetry?: Telemetry | undefined;
  /** Changes to one group, one at a time, in arrival order. */
  order: PerKey;
  /** Fan-outs of one group, published in the order their changes were stored. */
  sends: PerKey;
  deliveryTimeoutMs?: number | undefined;
}

/** §6: names ≤ 64 characters; group MESSAGE ≤ 64 KiB. */
export const MAX_NAME_CHARS = 64;
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Replayed messages per delivery (GET + TIMESTAMP). */
const REPLAY_PAGE = 200;

const nameField = {
  tlv: GroupChatsTlv.NAME,
  kind: "string",
  // A group id is shown and compared: no control characters (docs/security.md).
  text: "name",
  required: true,
  minBytes: 1,
  maxBytes: MAX_NAME_CHARS * 4,
  maxChars: MAX_NAME_CHARS,
} as const;
// A MEMBER that is no address of this server cannot be my contact.
const memberField = {
  tlv: GroupChatsTlv.MEMBER,
  kind: "address",
  required: true,
  invalid: GroupChatsError.MEMBER_NOT_CONTACT,
} as const;

const setShape = {
  name: nameField,
  members: { ...memberField, required: false, repeated: true, maxItems: 100_000 },
} as const satisfies Shape;
const getShape = { since: { tlv: GroupChatsTlv.TIMESTAMP, kind: "u64" } } as const satisfies Shape;
const memberAddShape = { name: nameField, member: memberField } as const satisfies Shape;
const memberRemoveShape = {
  name: nameField,
  member: { ...memberField, invalid: GlobalError.INVALID_TLV_VALUE },
} as const satisfies Shape;
// Both optional in the shape: an empty block is purple-impp's probe after BIND (§3), answered with
// an empty response; any other block must carry both.
const messageSendShape = {
  name: { ...nameField, required: false },
  message: { tlv: GroupChatsTlv.MESSAGE, kind: "bytes", minBytes: 1, maxBytes: MAX_MESSAGE_BYTES },
} as const satisfies Shape;

export function tupleOf(g: GroupView): TlvWriter {
  const w = new TlvWriter(32 + 70 * g.members.length).string(GroupChatsTlv.NAME, g.name);
  for (const m of g.members) w.string(GroupChatsTlv.MEMBER, m);
  return w.u64(GroupChatsTlv.TIMESTAMP, g.timestamp);
}

function indication(type: number, body: TlvWriter): Buffer {
  return body.frame({ flags: Flags.INDICATION, family: Family.GROUP_CHATS, type, sequence: 0 });
}

/** The tuple of a group I was just put in, INITIAL = 1 (MEMBER_ADD indication to the added). */
function joinedFrame(g: GroupView): Buffer {
  return indication(
    GroupChatsType.MEMBER_ADD,
    new TlvWriter(64 + 70 * g.members.length)
      .nested(GroupChatsTlv.GROUP_CHAT_TUPLE, tupleOf(g))
      .u8(GroupChatsTlv.INITIAL, 1),
  );
}

function memberFrame(type: number, group: string, from: string, member: string): Buffer {
  return indication(
    type,
    new TlvWriter(160)
      .string(GroupChatsTlv.NAME, group)
      .string(GroupChatsTlv.FROM, from)
      .string(GroupChatsTlv.MEMBER, member),
  );
}

export function messageFrame(m: StoredMessage, initial: boolean): Buffer {
  const w = new TlvWriter(m.body.length + 180)
    .string(GroupChatsTlv.NAME, m.group)
    .string(GroupChatsTlv.FROM, m.sender)
    .bytes(GroupChatsTlv.MESSAGE, m.body)
    .u64(GroupChatsTlv.TIMESTAMP, m.ts);
  if (initial) w.u8(GroupChatsTlv.INITIAL, 1);
  return indication(GroupChatsType.MESSAGE_SEND, w);
}

const timeout = (state: GroupState) => deliveryTimeout(state.config, state.deliveryTimeoutMs);

function logFailures(state: GroupState, outcomes: readonly DeliveryOutcome[], what: string): void {
  for (const o of outcomes) {
    state.telemetry?.metrics.deliveries.inc({ result: o.ok ? "group" : "group_failed" });
    if (!o.ok) state.telemetry?.logger.warn({ err: o.error, edgeId: o.edgeId }, `${what} not delivered`);
  }
}

/**
 * Queues `frames` to every connected device of `accounts` (but `except`) behind the group's earlier
 * fan-outs. Must be called inside the group's `order` step, right after the change was stored, so
 * fan-outs are queued in stored order. The device lookup starts at once (concurrently with earlier
 * fan-outs); the publish waits its turn; the acks are not waited for by the queue. Resolves when
 * the edges answered.
 */
function fanOut(
  state: GroupState,
  group: string,
  accounts: readonly string[],
  frames: Buffer,
  except?: { account: string; device: string },
): Promise<void> {
  const devices = state.sessions.getDevicesMany(accounts);
  // Kept from rejecting unobserved: the queue step below awaits it.
  devices.catch(() => {});
  const published = state.sends.run(group, async () => {
    const lists = await devices;
    const recipients = accounts
      .map((account, i) => ({ account, devices: lists[i] ?? [] }))
      .filter((r) => r.devices.length > 0);
    // Wrapped: the queue moves on once the deliveries are published, not when they are acked.
    return { acked: deliverToMany(state.bus, { recipients, frames, except, timeoutMs: timeout(state) }) };
  });
  return published.then(async ({ acked }) => logFailures(state, await acked, "group indication"));
}

/** My contacts among `others`, with no block either way — as the roster says now (token-checked cache). */
async function contactCheck(state: GroupState, me: string, others: readonly string[]): Promise<string[]> {
  if (others.length === 0) return [];
  const tokens = await state.sessions.listTokens([me]);
  const [rel] = await state.relations.get([me], tokens);
  return others.filter((o) => o !== me && (!rel!.contacts.has(o) || blockedEitherWay(rel!, o)));
}

const ok = (frames: Buffer) => ({ actions: 0, frames });

async function set({ envelope: env, fields }: Request<typeof setShape>, state: GroupState): Promise<Outcome> {
  const notContact = await contactCheck(state, env.account, fields.members);
  let told: Promise<void> | undefined;
  const change = await state.order.run(fields.name, async () => {
    const c = await state.groups.create(fields.name, env.account, fields.members, notContact);
    if (c.ok && c.created) {
      // Every member's devices (my other devices included) learn the group: its tuple, INITIAL = 1.
      told = fanOut(state, fields.name, c.group.members, joinedFrame(c.group), {
        account: env.account,
        device: env.device,
      });
    }
    return c;
  });
  if (!change.ok) return errorReply(env, change.code);
  const reply = ok(
    responseFrame(env, new TlvWriter(256).nested(GroupChatsTlv.GROUP_CHAT_TUPLE, tupleOf(change.group))),
  );
  return told === undefined ? reply : { reply, after: () => told! };
}

async function get({ envelope: env, fields }: Request<typeof getShape>, state: GroupState): Promise<Outcome> {
  const groups = await state.groups.groupsOf(env.account);
  const body = new TlvWriter(256 * Math.max(1, groups.length));
  for (const g of groups) body.nested(GroupChatsTlv.GROUP_CHAT_TUPLE, tupleOf(g));
  const reply = ok(responseFrame(env, body));
  const since = fields.since;
  if (since === undefined) return reply;
  // Then the messages newer than TIMESTAMP, to this device, in stored order: one page per delivery,
  // each acked before the next.
  return {
    reply,
    after: async () => {
      for await (const page of state.groups.history(env.account, since, REPLAY_PAGE)) {
        const out = await deliver(
          state.bus,
          env.edgeId,
          {
            account: env.account,
            filter: DeliveryFilter.ONLY_DEVICE,
            device: env.device,
            capability: 0,
            closeAfter: false,
            frames: Buffer.concat(page.map((m) => messageFrame(m, true))),
          },
          timeout(state),
        );
        if (!out.ok || out.delivered === 0) {
          if (!out.ok) state.telemetry?.logger.warn({ err: out.error }, "group history not delivered");
          return;
        }
      }
    },
  };
}

async function memberAdd(
  { envelope: env, fields }: Request<typeof memberAddShape>,
  state: GroupState,
): Promise<Outcome> {
  const { name, member } = fields;
  const isContact = member !== env.account && (await contactCheck(state, env.account, [member])).length === 0;
  let told: Promise<void> | undefined;
  const change = await state.order.run(name, async () => {
    const c = await state.groups.add(name, env.account, member, isContact);
    if (c.ok) {
      const others = c.group.members.filter((m) => m !== member);
      const added = fanOut(
        state,
        name,
        [member],
        Buffer.concat([
          joinedFrame(c.group),
          memberFrame(GroupChatsType.MEMBER_ADD, name, env.account, member),
        ]),
      );
      const rest = fanOut(
        state,
        name,
        others,
        memberFrame(GroupChatsType.MEMBER_ADD, name, env.account, member),
        {
          account: env.account,
          device: env.device,
        },
      );
      told = Promise.all([added, rest]).then(() => {});
    }
    return c;
  });
  if (!change.ok) return errorReply(env, change.code);
  return { reply: ok(responseFrame(env, new TlvWriter(0))), after: () => told! };
}

async function memberRemove(
  { envelope: env, fields }: Request<typeof memberRemoveShape>,
  state: GroupState,
): Promise<Outcome> {
  const { name, member } = fields;
  let told: Promise<void> | undefined;
  const change = await state.order.run(name, async () => {
    const c = await state.groups.remove(name, env.account, member);
    // Everyone who was in it, the removed one included.
    if (c.ok)
      told = fanOut(
        state,
        name,
        c.before,
        memberFrame(GroupChatsType.MEMBER_REMOVE, name, env.account, member),
        {
          account: env.account,
          device: env.device,
        },
      );
    return c;
  });
  if (!change.ok) return errorReply(env, change.code);
  return { reply: ok(responseFrame(env, new TlvWriter(0))), after: () => told! };
}

async function messageSend(
  { envelope: env, fields }: Request<typeof messageSendShape>,
  state: GroupState,
): Promise<Outcome> {
  if (env.block.length === 0) return ok(responseFrame(env, new TlvWriter(0)));
  const { name, message } = fields;
  if (name === undefined || message === undefined) return errorReply(env, GlobalError.INVALID_TLV_VALUE);
  const body = Buffer.from(message); // the field is a view of the request's bytes
  let told: Promise<void> | undefined;
  const change = await state.order.run(name, async () => {
    const c = await state.groups.send(name, env.account, body);
    if (c.ok) {
      const frame = messageFrame({ group: name, ts: c.ts, sender: env.account, body }, false);
      told = fanOut(state, name, c.members, frame, { account: env.account, device: env.device });
    }
    return c;
  });
  if (!change.ok) return errorReply(env, change.code);
  return {
    reply: ok(responseFrame(env, new TlvWriter(16).u64(GroupChatsTlv.TIMESTAMP, change.ts))),
    after: () => told!,
  };
}

/** GROUP_CHATS (family 7). */
export const groupChatRoutes = [
  route({ type: GroupChatsType.SET, session: "bound", shape: setShape, handle: set }),
  route({ type: GroupChatsType.GET, session: "bound", shape: getShape, handle: get }),
  route({ type: GroupChatsType.MEMBER_ADD, session: "bound", shape: memberAddShape, handle: memberAdd }),
  route({
    type: GroupChatsType.MEMBER_REMOVE,
    session: "bound",
    shape: memberRemoveShape,
    handle: memberRemove,
  }),
  route({
    type: GroupChatsType.MESSAGE_SEND,
    session: "bound",
    shape: messageSendShape,
    handle: messageSend,
  }),
];
