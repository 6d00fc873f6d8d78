/** Pure parsers for environment values. Each returns a value or the reason it is wrong. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

export type Parser<T> = (raw: string) => Parsed<T>;

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(problem: string): Parsed<T> => ({ ok: false, problem });

export function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    // Number("") is 0 and Number("1e3") is 1000: accept plain decimal digits only.
    if (!/^-?\d+$/.test(raw)) return bad(`must be an integer from ${min} to ${max}`);
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min || n > max)
      return bad(`must be an integer from ${min} to ${max}`);
    return ok(n);
  };
}

export const port: Parser<number> = integer(1, 65535);

/** A fraction from 0 to 1 in plain decimal notation (0, 1, 0.25, .5). */
export const ratio: Parser<number> = (raw) => {
  if (!/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(raw)) return bad("must be a number from 0 to 1");
  const n = Number(raw);
  return n >= 0 && n <= 1 ? ok(n) : bad("must be a number from 0 to 1");
};

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);

export const boolean: Parser<boolean> = (raw) => {
  const v = raw.toLowerCase();
  if (TRUE.has(v)) return ok(true);
  if (FALSE.has(v)) return ok(false);
  return bad("must be true or false (also accepted: 1/0, yes/no, on/off)");
};

export const text: Parser<string> = (raw) => ok(raw);

export function url(schemes: readonly string[]): Parser<string> {
  const list = schemes.map((s) => `${s}//`).join(", ");
  return (raw) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return bad(`must be a URL (${list})`);
    }
    if (!schemes.includes(u.protocol)) return bad(`scheme must be one of ${list}`);
    if (u.hostname === "") return bad("must name a host");
    return ok(raw);
  };
}

/** One URL or several separated by commas (NATS's server list), each with one of `schemes`. */
export function urlList(schemes: readonly string[]): Parser<string> {
  const one = url(schemes);
  return (raw) => {
    const parts = raw
      .split(",")
      .map((p) => p.trim())
      .filter((p) => p !== "");
    if (parts.length === 0) return bad("must name at least one server");
    for (const p of parts) {
      const r = one(p);
      if (!r.ok) return parts.length === 1 ? r : bad(`${redactUserinfo(p)}: ${r.problem}`);
    }
    return ok(raw);
  };
}

/** Hides whatever is before "@" after "//" (user, password or token), for messages about URLs. */
export function redactUserinfo(raw: string): string {
  return raw.replace(/\/\/[^@/]*@/g, "//***@");
}

export function oneOf<const T extends string>(values: readonly T[]): Parser<T> {
  return (raw) => {
    const v = raw.toLowerCase();
    return (values as readonly string[]).includes(v)
      ? ok(v as T)
      : bad(`must be one of ${values.join(", ")}`);
  };
}

export function listOf<const T extends string>(values: readonly T[]): Parser<T[]> {
  return (raw) => {
    const items = raw
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== "");
    if (items.length === 0) return bad(`must name at least one of ${values.join(", ")}`);
    const unknown = items.filter((s) => !(values as readonly string[]).includes(s));
    if (unknown.length > 0) {
      return bad(
        `unknown ${unknown.length === 1 ? "entry" : "entries"} ${unknown.join(", ")} (known: ${values.join(", ")})`,
      );
    }
    // Deduplicated, in the canonical order, so equal settings compare equal.
    return ok(values.filter((v) => items.includes(v)));
  };
}

/**
 * Edge ids become NATS subject tokens and Redis key parts: letters, digits,
 * "-" and "_" only, so no "." or wildcard can split or widen a subject.
 */
export const SUBJECT_SAFE = /^[A-Za-z0-9_-]{1,64}$/;

export const subjectToken: Parser<string> = (raw) =>
  SUBJECT_SAFE.test(raw) ? ok(raw) : bad("must be 1 to 64 letters, digits, '-' or '_'");

/** An edge id prefix: room left for "-" and the per-start instance suffix within 64 characters. */
export const EDGE_PREFIX_MAX = 53;
export const edgePrefix: Parser<string> = (raw) =>
  /^[A-Za-z0-9_-]{1,53}$/.test(raw) ? ok(raw) : bad("must be 1 to 53 letters, digits, '-' or '_'");

export function toSubjectToken(raw: string): string {
  const cleaned = raw
    .replace(/[^A-Za-z0-9_-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^-+|-+$/g, "");
  return (cleaned === "" ? "edge" : cleaned).slice(0, 64);
}

export const hostPort: Parser<string> = (raw) =>
  /^[^\s/]+:\d{1,5}$/.test(raw) || /^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/.test(raw)
    ? ok(raw)
    : bad("must be host:port (e.g. impp.example.com:3158)");

export const domainName: Parser<string> = (raw) =>
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
    raw,
  )
    ? ok(raw.toLowerCase())
    : bad("must be a domain name (e.g. example.com)");

/** A client the operator refuses at DEVICE BIND: every version, or those below `below`. */
export interface ClientBan {
  /** CLIENT_NAME, compared case-insensitively. */
  name: string;
  /** A dotted version: clients older than it are refused and told to upgrade to it. */
  below?: string;
}

const VERSION = /^\d+(\.\d+)*$/;

/** "OldChat, Trillian<6.1" → [{name: "OldChat"}, {name: "Trillian", below: "6.1"}]. */
export const clientBans: Parser<ClientBan[]> = (raw) => {
  const out: ClientBan[] = [];
  for (const part of raw.split(",")) {
    const rule = part.trim();
    if (rule === "") continue;
    const lt = rule.indexOf("<");
    const name = (lt < 0 ? rule : rule.slice(0, lt)).trim();
    if (name === "") return bad(`"${rule}": a client name is missing`);
    if (lt < 0) {
      out.push({ name });
      continue;
    }
    const below = rule.slice(lt + 1).trim();
    if (!VERSION.test(below)) return bad(`"${rule}": the version after < must be dotted numbers, e.g. 6.1`);
    out.push({ name, below });
  }
  return ok(out);
};
