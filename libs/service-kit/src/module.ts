// The family-module contract (after ejabberd's gen_mod and Fastify's plugins): every feature of the
// server is one module that declares what it is — its role, the families it serves and each request
// type's shape, what it needs, its settings, its migrations, which modules it builds on — and how to
// start it. `impp serve` composes the modules named in IMPP_ROLES from one list, checked once with
// checkModules before anything starts.
import type { Bus, ReplyEnvelope, RequestEnvelope } from "@impp/bus";
import type { Config } from "@impp/config";
import { settings } from "@impp/config";
import { familyName, typeName } from "@impp/protocol";
import type { SessionStore } from "@impp/sessions";
import { checkMigrationSet, type MigrationSet, type Store } from "@impp/store";
import type { Telemetry } from "@impp/telemetry";
import { compileShape, type Fields, type ParseContext, type Shape, type ShapeParser } from "./schema.js";

/**
 * What the session must be for a request type (the edge enforces the phases too; a service checks
 * again because the bus is not the only way in, and a late request can race an UNBIND):
 * "anonymous" — before login; "authenticated" — logged in, no device yet; "bound" — a bound device.
 */
export type SessionNeed = "anonymous" | "authenticated" | "bound";

/** A request the kit has checked: the envelope, and the declared TLVs as a typed object. */
export interface Request<S extends Shape> {
  readonly envelope: RequestEnvelope;
  readonly fields: Fields<S>;
}

/**
 * What a handler returns: the reply, or the reply plus work to do once it is sent — copies to the
 * user's other devices, fan-out the requester need not wait for. The kit sends the reply first,
 * then runs `after`, tracked so that stop() still waits for it; a failure there is logged.
 */
export type Outcome = ReplyEnvelope | { readonly reply: ReplyEnvelope; readonly after: () => Promise<void> };

export interface RequestRoute<S extends Shape = Shape, State = unknown> {
  readonly type: number;
  readonly session: SessionNeed;
  readonly shape: S;
  handle(req: Request<S>, state: State): Promise<Outcome>;
}

/** One route with its shape compiled (what the kit dispatches to). */
export interface CompiledRoute<State = unknown> {
  readonly type: number;
  readonly session: SessionNeed;
  readonly parse: ShapeParser<Shape>;
  /** The declaration `parse` was compiled from (fuzzing checks parsed values against it). */
  readonly shape?: Shape;
  handle(req: Request<Shape>, state: State): Promise<Outcome>;
}

/**
 * Declares one request type. The shape is compiled here, once: a wrong declaration throws at module
 * load, never at the first request.
 */
export function route<const S extends Shape, State>(def: RequestRoute<S, State>): CompiledRoute<State> {
  return {
    type: def.type,
    session: def.session,
    parse: compileShape(def.shape, `type ${def.type}`) as ShapeParser<Shape>,
    shape: def.shape,
    handle: def.handle as (req: Request<Shape>, state: State) => Promise<Outcome>,
  };
}

export interface FamilyRoutes<State = unknown> {
  readonly family: number;
  readonly routes: readonly CompiledRoute<State>[];
}

/** What every module is handed at start; `store` is there when the module declared needs.store. */
export interface ModuleContext {
  readonly bus: Bus;
  readonly sessions: SessionStore;
  readonly store: Store | undefined;
  readonly config: Config;
  readonly telemetry: Telemetry;
}

/** A started module: its state (what its handlers get) and how to stop it. */
export interface Started<State> {
  readonly state: State;
  /** Stops timers and subscriptions of its own; the kit stops serving its families first. */
  stop?(): Promise<void>;
  /** For the edge: drain connections before stop. */
  drain?(): Promise<void>;
  /** For /readyz: false while the module cannot take work (an edge draining). */
  ready?(): boolean;
}

export interface FamilyModule<State = unknown> {
  /** The role name in IMPP_ROLES. */
  readonly role: string;
  /** One line for `impp help` and the docs. */
  readonly description: string;
  /**
   * Modules whose data or events this one uses (their migrations run first; they need not run in
   * the same process — modules talk over the bus — but they must exist in the registry).
   */
  readonly depends?: readonly string[];
  /** What the composer must open for it: the durable store (Postgres/PGlite). Bus, live state and
   *  telemetry are always there. */
  readonly needs?: { readonly store?: boolean };
  /** The IMPP_* settings it reads (its section of docs/configuration.md); checked to exist. */
  readonly settings?: readonly string[];
  /** Its tables: recorded in its own migration table. */
  readonly migrations?: MigrationSet;
  /** The families it serves and a route per request type. */
  readonly families?: readonly FamilyRoutes<State>[];
  start(ctx: ModuleContext): Promise<Started<State>>;
}

/** Keeps a module's State type between its routes and its start (a typed identity). */
export function defineModule<State>(m: FamilyModule<State>): FamilyModule<State> {
  return m;
}

// biome-ignore lint/suspicious/noExplicitAny: a registry holds modules of every state type.
export type AnyModule = FamilyModule<any>;

const ROLE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * The registration checks (Fastify checks plugin metadata at register): unique role names, one
 * module per family, one route per type, known dependencies without cycles, migration sets well
 * formed and in tables of their own, settings that exist. Throws an Error listing every problem.
 * Returns the modules in dependency order (a module after those it depends on).
 */
export function checkModules(modules: readonly AnyModule[]): AnyModule[] {
  const problems: string[] = [];
  const byRole = new Map<string, AnyModule>();
  const families = new Map<number, string>();
  const tables = new Map<string, string>();
  const known = new Set(settings.map((s) => s.name));
  for (const m of modules) {
    if (!ROLE_NAME.test(m.role)) problems.push(`role "${m.role}" is not a-z, 0-9 and "-"`);
    if (byRole.has(m.role)) problems.push(`role "${m.role}" is declared twice`);
    byRole.set(m.role, m);
    for (const f of m.families ?? []) {
      const owner = families.get(f.family);
      if (owner !== undefined) {
        problems.push(`family ${familyName(f.family)} is served by both "${owner}" and "${m.role}"`);
      }
      families.set(f.family, m.role);
      const types = new Set<number>();
      for (const r of f.routes) {
        if (types.has(r.type)) {
          problems.push(`${m.role}: ${familyName(f.family)} ${typeName(f.family, r.type)} has two routes`);
        }
        types.add(r.type);
      }
    }
    if (m.migrations !== undefined) {
      try {
        checkMigrationSet(m.migrations);
      } catch (err) {
        problems.push(`${m.role}: ${(err as Error).message}`);
      }
      const other = tables.get(m.migrations.table);
      if (other !== undefined)
        problems.push(`${m.role} and ${other} share migration table ${m.migrations.table}`);
      tables.set(m.migrations.table, m.role);
      if (m.needs?.store !== true) problems.push(`${m.role} has migrations but does not declare needs.store`);
    }
    for (const s of m.settings ?? []) {
      if (!known.has(s)) problems.push(`${m.role}: setting ${s} does not exist`);
    }
  }
  for (const m of modules) {
    for (const d of m.depends ?? []) {
      if (!byRole.has(d)) problems.push(`${m.role} depends on "${d}", which is no module`);
    }
  }
  if (problems.length > 0) throw new Error(`module registry: ${problems.join("; ")}`);

  // Depth-first topological order; a cycle is a registration error.
  const ordered: AnyModule[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (m: AnyModule, path: string[]): void => {
    const s = state.get(m.role);
    if (s === "done") return;
    if (s === "visiting")
      throw new Error(`module registry: dependency cycle ${[...path, m.role].join(" → ")}`);
    state.set(m.role, "visiting");
    for (const d of m.depends ?? []) visit(byRole.get(d)!, [...path, m.role]);
    state.set(m.role, "done");
    ordered.push(m);
  };
  for (const m of modules) visit(m, []);
  return ordered;
}

/** The modules named in `roles` and, for migrations, nothing else; in dependency order. */
export function selectModules(registry: readonly AnyModule[], roles: readonly string[]): AnyModule[] {
  const want = new Set(roles);
  const unknown = roles.filter((r) => !registry.some((m) => m.role === r));
  if (unknown.length > 0) throw new Error(`no module for role ${unknown.join(", ")}`);
  return checkModules(registry).filter((m) => want.has(m.role));
}

/**
 * `selected` and every module they depend on, transitively, in dependency order: whose tables a
 * process must migrate before it runs `selected` (a roster-only process still needs auth's accounts
 * table, which the lists refer to).
 */
export function withDependencies(
  registry: readonly AnyModule[],
  selected: readonly AnyModule[],
): AnyModule[] {
  const byRole = new Map(registry.map((m) => [m.role, m]));
  const need = new Set<string>();
  const add = (m: AnyModule) => {
    if (need.has(m.role)) return;
    need.add(m.role);
    for (const d of m.depends ?? []) {
      const dep = byRole.get(d);
      if (dep !== undefined) add(dep);
    }
  };
  for (const m of selected) add(m);
  return checkModules(registry).filter((m) => need.has(m.role));
}

/** Parse context for a request: the server's domain for address fields. */
export function parseContext(config: Pick<Config, "domain">): ParseContext {
  return { domain: config.domain };
}
