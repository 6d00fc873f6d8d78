// How `impp user show` prints an account's details. Apart from user-details.ts so that showing what
// a running server answered loads nothing of the roster.
import type { UserDetails } from "@impp/auth/admin";

/** The details as `impp user show` prints them. */
export function renderUserDetails(d: UserDetails): string {
  const lines = [`${d.name}${d.disabled ? " (disabled)" : ""}, created ${d.createdAt}`];
  if (d.presence !== undefined) {
    const msg = d.presence.statusMessage ? ` "${d.presence.statusMessage}"` : "";
    lines.push(`presence: ${d.presence.status}${msg}`);
    for (const dev of d.presence.devices) {
      const flags = [dev.status, dev.idle && "idle", dev.mobile && "mobile"].filter((x) => x).join(", ");
      lines.push(`  device ${dev.name}${dev.client ? ` (${dev.client})` : ""}: ${flags}`);
    }
  } else {
    lines.push(`presence: unknown (${d.presenceUnavailable ?? "no live state"})`);
  }
  const list = (title: string, items: string[]) =>
    lines.push(
      `${title} (${items.length}):${items.length === 0 ? " none" : ""}`,
      ...items.map((i) => `  ${i}`),
    );
  list(
    "contacts",
    d.contacts.map((c) => {
      const how =
        c.approvedMe && c.approvedByMe
          ? "mutual"
          : c.approvedMe
            ? "they approved, you have not"
            : c.approvedByMe
              ? "waiting for their approval"
              : "waiting for their approval; you have not approved them";
      return `${c.name}${c.nickname ? ` "${c.nickname}"` : ""} (${how})`;
    }),
  );
  list("pending (waiting for this user's approval)", d.pending);
  list("allow", d.allow);
  list("block", d.blocks);
  return `${lines.join("\n")}\n`;
}
