// Subject syntax shared by both implementations, so the in-process bus rejects
// exactly the subjects NATS would misroute. Pure; no allocation on the publish path.

function isSpace(c: number): boolean {
  // Space, tab, CR, LF, VT, FF: NATS splits protocol lines on these.
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** A subject to publish to: non-empty dot-separated tokens, no wildcard tokens, no whitespace. */
export function isPublishSubject(s: string): boolean {
  return checkSubject(s, false);
}

/** A subject to subscribe to: as for publish, plus whole-token `*` anywhere and `>` as the last token. */
export function isSubscribeSubject(s: string): boolean {
  return checkSubject(s, true);
}

function checkSubject(s: string, wildcards: boolean): boolean {
  const n = s.length;
  if (n === 0) return false;
  let tokenStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      const len = i - tokenStart;
      if (len === 0) return false;
      if (len === 1) {
        const t = s.charCodeAt(tokenStart);
        if (t === 0x2a || t === 0x3e) {
          if (!wildcards) return false;
          if (t === 0x3e && i !== n) return false;
        }
      }
      tokenStart = i + 1;
    } else if (isSpace(c)) {
      return false;
    }
  }
  return true;
}

export function hasWildcardToken(tokens: readonly string[]): boolean {
  for (const t of tokens) if (t === "*" || t === ">") return true;
  return false;
}

/** Does a (validated) subscription pattern, already split into tokens, match a literal subject? */
export function matchTokens(pattern: readonly string[], subject: readonly string[]): boolean {
  const pn = pattern.length;
  for (let i = 0; i < pn; i++) {
    const p = pattern[i];
    if (p === ">") return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== "*" && p !== subject[i]) return false;
  }
  return pn === subject.length;
}
