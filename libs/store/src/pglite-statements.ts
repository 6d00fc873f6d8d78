import type { PGlite, Results } from "@electric-sql/pglite";
import { messages as backend, parse, protocol } from "@electric-sql/pglite";

type BackendMessage = backend.BackendMessage;

/** How many named statements one embedded database keeps prepared by default. */
export const DEFAULT_PREPARED_STATEMENTS = 256;

/**
 * A query with more parameters than this runs as an unnamed statement, parsed for that run only.
 * Such texts come from lists of varying length (`IN ($1, …, $n)`, a batch of rows): one text per
 * length, each plan as big as its list, and Postgres's memory in WebAssembly never shrinks — kept
 * prepared, 256 of them could hold tens of MiB for good.
 */
export const MAX_NAMED_PARAMETERS = 32;

interface Prepared {
  name: string;
  /** The parameters' type oids, as Postgres inferred them (ParameterDescription). */
  paramTypes: number[];
  /** The statement's RowDescription, or none for a statement that returns no rows. */
  rowDescription: BackendMessage | undefined;
}

const { serialize } = protocol;

/** Statement names are unique in the process, so two caches on one database never collide. */
let nextId = 0;
const SYNC = serialize.sync();

/** Postgres's error when a prepared statement's result columns changed under it (DDL since Parse). */
const RESULT_TYPE_CHANGED = "0A000";

/**
 * The queries of one PGlite database, each SQL text parsed and planned once.
 *
 * PGlite's own `query()` sends every statement as an unnamed one in six calls into the
 * WebAssembly backend (Parse, Describe, Bind, Describe, Execute, Sync), so Postgres parses,
 * analyses and plans it again each time — and planning reads every table's and index's size
 * from the data files (an fstat each, through Emscripten's file system). Our queries are a
 * small, fixed set of texts with parameters. Here a text is parsed once into a named
 * statement (one call: Parse, Describe, Sync) and each execution is one call (Bind, Execute,
 * Sync); Postgres keeps the plan (a generic one after five runs, as for any prepared
 * statement). A query with many parameters is parsed for its run only (MAX_NAMED_PARAMETERS).
 * Measured on this store's lookups: ≈ 3× less CPU per query (see docs/architecture.md, "The
 * embedded database's statements").
 *
 * Named statements are not transactional: one made inside a transaction that rolls back
 * stays. At most `limit` are kept; the least recently used is closed when a new one needs
 * room. Callers run one query at a time (the dialect's single connection sees to that).
 */
export class PreparedStatements {
  readonly #pglite: PGlite;
  readonly #limit: number;
  /** SQL text → statement, least recently used first. */
  readonly #bySql = new Map<string, Prepared>();
  /** Postgres's transaction status after the last call: I (idle), T (in a transaction), E (failed one). */
  #status = "I";

  constructor(pglite: PGlite, limit = DEFAULT_PREPARED_STATEMENTS) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`prepared statement limit ${limit}`);
    this.#pglite = pglite;
    this.#limit = limit;
  }

  /** How many statements are prepared now. */
  get size(): number {
    return this.#bySql.size;
  }

  async query<R>(sql: string, params: readonly unknown[]): Promise<Results<R>> {
    const idle = this.#status === "I";
    try {
      return await this.#run<R>(sql, params);
    } catch (e) {
      // The statement's columns changed under it (a table altered since it was parsed): parse it
      // again. Outside a transaction nothing ran, so running it again is safe; inside one the
      // transaction is already failed and the error is the caller's to see.
      if (!(isDatabaseError(e) && e.code === RESULT_TYPE_CHANGED && idle)) throw e;
      await this.#forget(sql);
      return await this.#run<R>(sql, params);
    }
  }

  async #run<R>(sql: string, params: readonly unknown[]): Promise<Results<R>> {
    let statement: Prepared;
    if (params.length > MAX_NAMED_PARAMETERS) statement = await this.#parse(sql, "");
    else {
      statement = this.#bySql.get(sql) ?? (await this.#prepare(sql));
      // Most recently used last.
      this.#bySql.delete(sql);
      this.#bySql.set(sql, statement);
    }
    const values = this.#serialize(statement.paramTypes, params);
    const messages = await this.#exec(
      [serialize.bind({ statement: statement.name, values }), serialize.execute({}), SYNC],
      { sql, params },
    );
    if (statement.rowDescription !== undefined) messages.unshift(statement.rowDescription);
    return parse.parseResults(messages, this.#pglite.parsers)[0] as Results<R>;
  }

  async #prepare(sql: string): Promise<Prepared> {
    if (this.#bySql.size >= this.#limit) {
      const oldest = this.#bySql.keys().next().value as string;
      await this.#forget(oldest);
    }
    const statement = await this.#parse(sql, `impp_${nextId++}`);
    this.#bySql.set(sql, statement);
    return statement;
  }

  /** Parse (named, or "" for the unnamed statement the next Parse replaces) and Describe: one call. */
  async #parse(sql: string, name: string): Promise<Prepared> {
    const messages = await this.#exec(
      [serialize.parse({ name, text: sql }), serialize.describe({ type: "S", name }), SYNC],
      { sql, params: undefined },
    );
    return {
      name,
      paramTypes: parse.parseDescribeStatementResults(messages),
      rowDescription: messages.find((m) => m.name === "rowDescription"),
    };
  }

  async #forget(sql: string): Promise<void> {
    const statement = this.#bySql.get(sql);
    if (statement === undefined) return;
    this.#bySql.delete(sql);
    await this.#exec([serialize.close({ type: "S", name: statement.name }), SYNC], {
      sql,
      params: undefined,
    });
  }

  /** PGlite's own conversion of parameters (by the type Postgres inferred), as its query() does. */
  #serialize(types: number[], params: readonly unknown[]): (string | null)[] {
    const serializers = this.#pglite.serializers;
    return params.map((param, i) => {
      if (param === null || param === undefined) return null;
      const oid = types[i];
      const serializer = oid === undefined ? undefined : serializers[oid];
      return serializer ? (serializer(param) as string) : String(param);
    });
  }

  /** One call into the backend with these messages; errors carry the query, as PGlite's do. */
  async #exec(
    parts: Uint8Array[],
    context: { sql: string; params: readonly unknown[] | undefined },
  ): Promise<BackendMessage[]> {
    const before = this.#status;
    try {
      const { messages } = await this.#pglite.execProtocol(Buffer.concat(parts));
      for (const m of messages) if (m instanceof backend.ReadyForQueryMessage) this.#status = m.status;
      return messages;
    } catch (e) {
      // The batch ends with Sync: an error inside a transaction leaves it failed, outside it
      // the implicit transaction was rolled back.
      this.#status = before === "I" ? "I" : "E";
      if (isDatabaseError(e)) Object.assign(e, { query: context.sql, params: context.params });
      throw e;
    }
  }
}

function isDatabaseError(e: unknown): e is Error & { code: string } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === "string";
}
