// §4.2: CLIENT_INVALID for a client the operator has banned by name/version; the error may
// suggest a version to upgrade to. Pure, so the rules are tested directly.
import type { ClientBan } from "@impp/config";

export interface Refusal {
  /** The version to upgrade to (the rule's bound), when the ban is by version. */
  upgradeTo?: string;
}

/** Compares dotted numeric versions; a version with non-numeric parts compares by its leading numbers. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((x) => Number.parseInt(x, 10));
  const pb = b.split(".").map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number.isNaN(pa[i] ?? 0) ? 0 : (pa[i] ?? 0);
    const y = Number.isNaN(pb[i] ?? 0) ? 0 : (pb[i] ?? 0);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * The refusal for this client, or undefined when it may bind. A client that does not say its
 * version cannot prove it is new enough: a ban by version refuses it too.
 */
export function checkClient(
  bans: readonly ClientBan[],
  client: { clientName?: string; clientVersion?: string },
): Refusal | undefined {
  if (bans.length === 0 || client.clientName === undefined) return undefined;
  const name = client.clientName.toLowerCase();
  for (const ban of bans) {
    if (ban.name.toLowerCase() !== name) continue;
    if (ban.below === undefined) return {};
    if (client.clientVersion === undefined || compareVersions(client.clientVersion, ban.below) < 0) {
      return { upgradeTo: ban.below };
    }
  }
  return undefined;
}
