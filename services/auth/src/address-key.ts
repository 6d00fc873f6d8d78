import { isIPv4, isIPv6 } from "node:net";

/**
 * The per-address login limit's bucket for a connection's remote address. The port is dropped (each
 * connection has its own, so keeping it would make the limit per connection), IPv4-mapped IPv6 is
 * read as IPv4, and IPv6 is bucketed by /64: one subscriber usually holds a whole /64, so a limit
 * per /128 would hand an attacker 2^64 fresh budgets. Anything unparsable is used as given.
 */
export function loginAddressBucket(remote: string): string {
  let host = remote;
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    if (end !== -1) host = host.slice(1, end);
  } else if (host.indexOf(":") !== -1 && host.indexOf(":") === host.lastIndexOf(":")) {
    host = host.slice(0, host.indexOf(":")); // IPv4 (or a name) with a port
  }
  const zone = host.indexOf("%");
  if (zone !== -1) host = host.slice(0, zone);
  if (isIPv4(host)) return host;
  if (!isIPv6(host)) return remote;
  const groups = expandIPv6(host);
  if (groups === undefined) return remote;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join(".");
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (an embedded IPv4 tail is allowed). */
function expandIPv6(addr: string): number[] | undefined {
  let text = addr;
  const lastColon = text.lastIndexOf(":");
  const v4 = text.slice(lastColon + 1);
  if (isIPv4(v4)) {
    const b = v4.split(".").map(Number);
    text = `${text.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((h) => Number.parseInt(h, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}
