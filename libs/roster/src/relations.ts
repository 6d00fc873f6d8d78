// The read side every feature uses: one user's relations as sets, loaded from Postgres in one
// query and cached in the process, keyed by the user's list token in the live store.
//
// Consistency: the roster bumps the tokens of both users of a change AFTER its transaction commits
// and BEFORE it answers. A reader reads the token first (in the same round trip as whatever else
// it needs), then uses its cached sets only if they were loaded under that very token; otherwise it
// loads from Postgres and caches the result under the token it read. Data older than a commit can
// therefore only ever be cached under a token older than that commit's bump, which no reader after
// the bump will accept: a block is in force for the very next message the blocked user sends.
import type { Store } from "@impp/store";
import { sql } from "kysely";
import { rosterDb } from "./tables.js";

export interface Relations {
  readonly account: string;
  /** My contacts, with the nickname I gave them ("" = none). */
  readonly contacts: ReadonlyMap<string, string>;
  /** Users I approved: they may see me. */
  readonly approved: ReadonlySet<string>;
  /** Users who approved me: I may see them. */
  readonly approvedBy: ReadonlySet<string>;
  /** Users waiting for my approval. */
  readonly pending: ReadonlySet<string>;
  /** My allow list, and who has me on theirs. */
  readonly allow: ReadonlySet<string>;
  readonly allowedBy: ReadonlySet<string>;
  /** My block list, and who blocks me. */
  readonly blocks: ReadonlySet<string>;
  readonly blockedBy: ReadonlySet<string>;
}

/** Either side blocks the other. */
export function blockedEitherWay(r: Relations, other: string): boolean {
  return r.blocks.has(other) || r.blockedBy.has(other);
}

type Kind = "contact" | "approved" | "approvedBy" | "pending" | "allow" | "allowedBy" | "block" | "blockedBy";

/** Loads the relations of `accounts` in one query. */
export async function loadRelations(
  store: Pick<Store, "db">,
  accounts: readonly string[],
): Promise<Relations[]> {
  const out = new Map<string, Relations>();
  const fresh = (account: string) => ({
    account,
    contacts: new Map<string, string>(),
    approved: new Set<string>(),
    approvedBy: new Set<string>(),
    pending: new Set<string>(),
    allow: new Set<string>(),
    allowedBy: new Set<string>(),
    blocks: new Set<string>(),
    blockedBy: new Set<string>(),
  });
  for (const a of accounts) out.set(a, fresh(a));
  if (accounts.length === 0) return [];
  const list = [...new Set(accounts)];
  const db = rosterDb(store);
  const rows = await sql<{ who: string; kind: Kind; other: string; nick: string | null }>`
    SELECT owner AS who, 'contact' AS kind, contact AS other, nickname AS nick FROM roster_contacts WHERE owner = ANY(${list})
    UNION ALL SELECT owner, 'approved', watcher, NULL FROM roster_approvals WHERE owner = ANY(${list})
    UNION ALL SELECT watcher, 'approvedBy', owner, NULL FROM roster_approvals WHERE watcher = ANY(${list})
    UNION ALL SELECT owner, 'pending', requester, NULL FROM roster_pending WHERE owner = ANY(${list})
    UNION ALL SELECT owner, 'allow', address, NULL FROM roster_allow WHERE owner = ANY(${list})
    UNION ALL SELECT address, 'allowedBy', owner, NULL FROM roster_allow WHERE address = ANY(${list})
    UNION ALL SELECT owner, 'block', address, NULL FROM roster_block WHERE owner = ANY(${list})
    UNION ALL SELECT address, 'blockedBy', owner, NULL FROM roster_block WHERE address = ANY(${list})
  `.execute(db);
  for (const row of rows.rows) {
    const r = out.get(row.who) as ReturnType<typeof fresh> | undefined;
    if (r === undefined) continue;
    switch (row.kind) {
      case "contact":
        r.contacts.set(row.other, row.nick ?? "");
        break;
      case "approved":
        r.approved.add(row.other);
        break;
      case "approvedBy":
        r.approvedBy.add(row.other);
        break;
      case "pending":
        r.pending.add(row.other);
        break;
      case "allow":
        r.allow.add(row.other);
        break;
      case "allowedBy":
        r.allowedBy.add(row.other);
        break;
      case "block":
        r.blocks.add(row.other);
        break;
      case "blockedBy":
        r.blockedBy.add(row.other);
        break;
    }
  }
  return accounts.map((a) => out.get(a)!);
}

export interface RelationsCacheOptions {
  /** Users whose relations are kept; the least recently used go first. */
  maxEntries?: number;
}

/** Default: 20,000 users — at 1,000 contacts each a few hundred MB at most; typically far less. */
export const RELATIONS_CACHE_DEFAULT = 20_000;

/**
 * Relations by user, valid for the token they were loaded under. `get(account, token)` is a Map
 * lookup when the cache is current — no I/O on the hot path.
 */
export class RelationsCache {
  private readonly entries = new Map<string, { token: string; relations: Relations }>();
  private readonly max: number;
  hits = 0;
  loads = 0;

  constructor(
    private readonly store: Pick<Store, "db">,
    opts: RelationsCacheOptions = {},
  ) {
    this.max = Math.max(1, opts.maxEntries ?? RELATIONS_CACHE_DEFAULT);
  }

  /** Relations of each account as of its token (tokens[i] read from the live store before this call). */
  async get(accounts: readonly string[], tokens: readonly string[]): Promise<Relations[]> {
    const out = new Array<Relations>(accounts.length);
    const missing: number[] = [];
    for (let i = 0; i < accounts.length; i++) {
      const e = this.entries.get(accounts[i]!);
      if (e !== undefined && e.token === tokens[i]) {
        // Refresh its place: Map order is the LRU order.
        this.entries.delete(accounts[i]!);
        this.entries.set(accounts[i]!, e);
        out[i] = e.relations;
        this.hits++;
      } else {
        missing.push(i);
      }
    }
    if (missing.length > 0) {
      const loaded = await loadRelations(
        this.store,
        missing.map((i) => accounts[i]!),
      );
      this.loads += missing.length;
      missing.forEach((i, k) => {
        const relations = loaded[k]!;
        out[i] = relations;
        this.entries.delete(accounts[i]!);
        this.entries.set(accounts[i]!, { token: tokens[i]!, relations });
      });
      while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    }
    return out;
  }

  get size(): number {
    return this.entries.size;
  }
}
