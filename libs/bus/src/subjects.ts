// The single place subject names are made: a typo here is a silent misroute, so
// nothing else in the code base builds subjects by hand.

/** True when s can sit inside a subject as one token: non-empty, no `.`, `*`, `>` or whitespace. */
export function isSubjectToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e || c === 0x2a || c === 0x3e || c === 0x20 || (c >= 0x09 && c <= 0x0d)) return false;
    // Other Unicode whitespace is rare but would still confuse tooling and logs.
    if (c > 0x7f && /\s/.test(s[i]!)) return false;
  }
  return true;
}

export class SubjectTokenError extends Error {
  override readonly name = "SubjectTokenError";
  readonly kind = "BAD_TOKEN" as const;
  constructor(readonly token: string) {
    super(`not a valid subject token: ${JSON.stringify(token)}`);
  }
}

function familyToken(family: number): string {
  if (!Number.isInteger(family) || family < 0 || family > 0xffff) throw new SubjectTokenError(String(family));
  return String(family);
}

function token(s: string): string {
  if (!isSubjectToken(s)) throw new SubjectTokenError(s);
  return s;
}

export const subjects = {
  /** edge → the service owning an IMPP family; services subscribe with queue group serviceQueue(family). */
  request: (family: number): string => `impp.req.${familyToken(family)}`,
  serviceQueue: (family: number): string => `impp.svc.${familyToken(family)}`,
  /** Deliveries and control messages addressed to one edge node (request/reply: the edge acks). */
  edge: (edgeId: string): string => `impp.edge.${token(edgeId)}`,
  /** A feature's event, named by the feature that publishes it (see @impp/service-kit defineEvent). */
  event: (name: string): string => `impp.evt.${token(name)}`,
  /** Queue group of one role's instances for an event: each event to one instance of that role. */
  eventQueue: (name: string, role: string): string => `impp.svc.${token(role)}.${token(name)}`,
} as const;
