// `impp user show`: an account, its lists (from the store, through the roster's loadRelations) and
// its presence (from the live state: the embedded server's memory through the admin endpoint, or
// Redis). Shared by the admin endpoint and the command's direct path.
import type { AdminResult, UserDetails } from "@impp/auth/admin";
import { createAccountsRepository } from "@impp/auth/admin";
import { normalizeAddress, Status } from "@impp/protocol";
import { advertise, loadRelations } from "@impp/roster";
import type { SessionStore } from "@impp/sessions";
import type { Store } from "@impp/store";

const STATUS_NAMES = new Map<number, string>(Object.entries(Status).map(([k, v]) => [v, k.toLowerCase()]));

export function statusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `status ${status}`;
}

/** The live state to read presence from, or why there is none. */
export type PresenceSource = Pick<SessionStore, "getPresence" | "getDevices"> | { unavailable: string };

export async function userDetails(
  store: Pick<Store, "db">,
  live: PresenceSource,
  name: string,
  domain?: string,
): Promise<AdminResult<UserDetails>> {
  const n = normalizeAddress(name, domain);
  if (n === undefined)
    return { ok: false, code: "NAME_INVALID", message: `${JSON.stringify(name)} is not an account name` };
  const account = await createAccountsRepository(store).find(n);
  if (account === undefined) return { ok: false, code: "NOT_FOUND", message: `no account ${n}` };
  const [r] = await loadRelations(store, [n]);
  const sorted = (s: Iterable<string>) => [...s].sort();
  const details: UserDetails = {
    name: n,
    createdAt: account.createdAt.toISOString(),
    disabled: account.disabled,
    contacts: [...r!.contacts]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([c, nickname]) => ({
        name: c,
        nickname,
        approvedMe: r!.approvedBy.has(c),
        approvedByMe: r!.approved.has(c),
      })),
    pending: sorted(r!.pending),
    allow: sorted(r!.allow),
    blocks: sorted(r!.blocks),
  };
  if ("unavailable" in live) {
    details.presenceUnavailable = live.unavailable;
    return { ok: true, value: details };
  }
  try {
    const [[record], devices] = await Promise.all([live.getPresence([n]), live.getDevices(n)]);
    // As the user's own devices see it: INVISIBLE stays INVISIBLE.
    const a = advertise(record, devices, "self");
    details.presence = {
      status: statusName(a.status),
      statusMessage: a.statusMessage,
      devices: devices.map((d) => ({
        name: d.name,
        client: [d.clientName, d.clientVersion].filter((x) => x).join(" "),
        status: statusName(d.status),
        idle: d.isIdle,
        mobile: d.isMobile,
      })),
    };
  } catch (e) {
    details.presenceUnavailable = `the live state did not answer: ${(e as Error).message}`;
  }
  return { ok: true, value: details };
}
