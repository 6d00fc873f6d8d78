import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import { openStore, type Store } from "@impp/store";
import { createMetrics, type HealthServer, startHealthServer } from "@impp/telemetry";
import { accountsMigrations, createAccountsRepository } from "./accounts.js";
import { type AccountsAdmin, createAccountsAdmin, isArgon2idHash } from "./admin.js";
import { adminRoutes } from "./admin-http.js";
import { hashPassword, verifyPassword } from "./passwords.js";

describe("passwords", () => {
  test("hashPassword makes an argon2id PHC string that verifyPassword accepts for that password only", async () => {
    const h = await hashPassword("s3cret");
    assert.match(h, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await verifyPassword(h, "s3cret"), true);
    assert.equal(await verifyPassword(h, Buffer.from("s3cret")), true);
    assert.equal(await verifyPassword(h, "s3cret "), false);
    assert.equal(await verifyPassword("not a hash", "s3cret"), false);
  });
});

describe("createAccountsAdmin", () => {
  let store: Store;
  let admin: AccountsAdmin;
  before(async () => {
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    admin = createAccountsAdmin(store, { domain: "example.org" });
  });
  after(() => store.close());

  test("add stores a canonical name with an argon2id hash of the password", async () => {
    assert.deepEqual(await admin.add("Ford@example.org", "towel"), { ok: true, value: "ford" });
    const a = await createAccountsRepository(store).find("ford");
    assert.ok(a);
    assert.equal(await verifyPassword(a.passwordHash, "towel"), true);
  });

  test("add refuses a taken name, a bad name and a bad password by name", async () => {
    const dup = await admin.add("FORD", "x");
    assert.equal(dup.ok ? "ok" : dup.code, "ACCOUNT_EXISTS");
    for (const [name, pw, code] of [
      ["no spaces", "x", "NAME_INVALID"],
      ["", "x", "NAME_INVALID"],
      ["a".repeat(65), "x", "NAME_INVALID"],
      ["ford@other.org", "x", "NAME_INVALID"],
      ["marvin", "", "PASSWORD_INVALID"],
      ["marvin", "p".repeat(1025), "PASSWORD_INVALID"],
    ] as const) {
      const r = await admin.add(name, pw);
      assert.equal(r.ok ? "ok" : r.code, code, `${name}/${pw.length}`);
    }
    assert.equal(await createAccountsRepository(store).find("marvin"), undefined);
  });

  test("passwd changes the hash; unknown is NOT_FOUND", async () => {
    assert.deepEqual(await admin.passwd("ford", "new towel"), { ok: true, value: "ford" });
    const a = await createAccountsRepository(store).find("ford");
    assert.equal(await verifyPassword(a!.passwordHash, "new towel"), true);
    assert.equal(await verifyPassword(a!.passwordHash, "towel"), false);
    const r = await admin.passwd("nobody", "x");
    assert.equal(r.ok ? "ok" : r.code, "NOT_FOUND");
    const bad = await admin.passwd("ford", "");
    assert.equal(bad.ok ? "ok" : bad.code, "PASSWORD_INVALID");
  });

  test("list and remove", async () => {
    await admin.add("arthur", "tea");
    assert.deepEqual(
      (await admin.list()).map((a) => a.name),
      ["arthur", "ford"],
    );
    assert.deepEqual(await admin.remove("Arthur"), { ok: true, value: "arthur" });
    const again = await admin.remove("arthur");
    assert.equal(again.ok ? "ok" : again.code, "NOT_FOUND");
    assert.deepEqual(
      (await admin.list()).map((a) => a.name),
      ["ford"],
    );
  });
});

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

function call(
  port: number,
  method: string,
  path: string,
  opts: { token?: string; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
    if (opts.token !== undefined) headers["authorization"] = `Bearer ${opts.token}`;
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          body: text === "" ? {} : JSON.parse(text),
          headers: res.headers,
        }),
      );
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("adminRoutes on the health server", () => {
  const token = "0123456789abcdef-test-token";
  let store: Store;
  let server: HealthServer;
  before(async () => {
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    server = await startHealthServer({
      port: 0,
      host: "127.0.0.1",
      registry: createMetrics(undefined, { processMetrics: false }).registry,
      ready: () => true,
      routes: adminRoutes(createAccountsAdmin(store, { domain: "example.org" }), token),
    });
  });
  after(async () => {
    await server.close();
    await store.close();
  });

  test("every route needs the bearer token", async () => {
    for (const [method, path] of [
      ["GET", "/admin/users"],
      ["POST", "/admin/users"],
      ["POST", "/admin/import"],
      ["PUT", "/admin/users/x/password"],
      ["DELETE", "/admin/users/x"],
    ] as const) {
      for (const t of [undefined, "wrong", `${token}x`, token.slice(0, -1)]) {
        const r = await call(
          server.port,
          method,
          path,
          t === undefined ? { body: "{}" } : { token: t, body: "{}" },
        );
        assert.equal(r.status, 401, `${method} ${path} ${t}`);
        assert.equal(r.headers["www-authenticate"], "Bearer");
      }
    }
    assert.equal(await createAccountsRepository(store).count(), 0);
  });

  test("POST creates, GET lists, PUT changes the password, DELETE removes", async () => {
    const created = await call(server.port, "POST", "/admin/users", {
      token,
      body: JSON.stringify({ name: "Trillian", password: "42" }),
    });
    assert.deepEqual([created.status, created.body], [201, { name: "trillian" }]);
    const dup = await call(server.port, "POST", "/admin/users", {
      token,
      body: JSON.stringify({ name: "trillian", password: "x" }),
    });
    assert.deepEqual([dup.status, dup.body["error"]], [409, "ACCOUNT_EXISTS"]);

    const list = await call(server.port, "GET", "/admin/users", { token });
    assert.equal(list.status, 200);
    const users = list.body["users"] as Array<{ name: string; disabled: boolean; createdAt: string }>;
    assert.deepEqual(
      users.map((u) => [u.name, u.disabled]),
      [["trillian", false]],
    );
    assert.ok(!Number.isNaN(Date.parse(users[0]!.createdAt)));

    const changed = await call(server.port, "PUT", "/admin/users/Trillian/password", {
      token,
      body: JSON.stringify({ password: "43" }),
    });
    assert.deepEqual([changed.status, changed.body], [200, { name: "trillian" }]);
    const a = await createAccountsRepository(store).find("trillian");
    assert.equal(await verifyPassword(a!.passwordHash, "43"), true);

    const gone = await call(server.port, "DELETE", "/admin/users/trillian%40example.org", { token });
    assert.deepEqual([gone.status, gone.body], [200, { name: "trillian" }]);
    const again = await call(server.port, "DELETE", "/admin/users/trillian", { token });
    assert.deepEqual([again.status, again.body["error"]], [404, "NOT_FOUND"]);
    const missing = await call(server.port, "PUT", "/admin/users/trillian/password", {
      token,
      body: JSON.stringify({ password: "x" }),
    });
    assert.equal(missing.status, 404);
  });

  test("bad input is a 4xx with a named error", async () => {
    const cases: Array<[string, string, string | undefined, number, string]> = [
      ["POST", "/admin/users", "not json", 400, "BAD_JSON"],
      ["POST", "/admin/users", "[1]", 400, "BAD_JSON"],
      ["POST", "/admin/users", JSON.stringify({ name: "x" }), 400, "BAD_BODY"],
      ["POST", "/admin/users", JSON.stringify({ name: "bad name", password: "x" }), 400, "NAME_INVALID"],
      ["POST", "/admin/users", JSON.stringify({ name: "ok", password: "" }), 400, "PASSWORD_INVALID"],
      [
        "POST",
        "/admin/users",
        JSON.stringify({ name: "ok", password: "x".repeat(9000) }),
        413,
        "BODY_TOO_LARGE",
      ],
      ["DELETE", "/admin/users", undefined, 405, "METHOD_NOT_ALLOWED"],
      ["GET", "/admin/users/x", undefined, 405, "METHOD_NOT_ALLOWED"],
      ["POST", "/admin/users/x/password", "{}", 405, "METHOD_NOT_ALLOWED"],
      ["DELETE", "/admin/users/%zz", undefined, 400, "BAD_PATH"],
      ["GET", "/admin/users/x/y/z", undefined, 404, "NOT_FOUND"],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await call(server.port, method, path, body === undefined ? { token } : { token, body });
      assert.deepEqual([r.status, r.body["error"]], [status, code], `${method} ${path}`);
    }
    assert.equal(await createAccountsRepository(store).find("ok"), undefined);
  });
});

describe("bulk import of hashes", () => {
  let store: Store;
  let admin: AccountsAdmin;
  let h: string;
  before(async () => {
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    admin = createAccountsAdmin(store, { domain: "example.org" });
    h = await hashPassword("pw");
  });
  after(() => store.close());

  test("isArgon2idHash takes PHC argon2id strings a login can afford, nothing else", async () => {
    assert.equal(isArgon2idHash(h), true);
    assert.equal(isArgon2idHash(h.replace("argon2id", "argon2i")), false);
    assert.equal(isArgon2idHash(h.replace("m=19456", "m=4194304")), false, "4 GiB of memory a login");
    assert.equal(isArgon2idHash(h.replace("t=2", "t=100")), false);
    assert.equal(isArgon2idHash("$argon2id$v=19$m=19456,t=2,p=1$"), false);
    assert.equal(isArgon2idHash("plain password"), false);
  });

  test("all or nothing: a bad line, a duplicate or an existing account imports none, naming each line", async () => {
    await admin.add("zaphod", "x");
    const r = await admin.importHashes([
      { line: 1, name: "arthur", hash: h },
      { line: 2, name: "bad name", hash: h },
      { line: 3, name: "Arthur", hash: h },
      { line: 4, name: "ford", hash: "$argon2i$nope" },
    ]);
    assert.deepEqual(r.ok ? "ok" : r.problems.map((p) => [p.line, p.code]), [
      [2, "NAME_INVALID"],
      [3, "DUPLICATE"],
      [4, "HASH_INVALID"],
    ]);
    const exists = await admin.importHashes([
      { line: 1, name: "arthur", hash: h },
      { line: 7, name: "ZAPHOD", hash: h },
    ]);
    assert.deepEqual(exists.ok ? "ok" : exists.problems.map((p) => [p.line, p.code]), [
      [7, "ACCOUNT_EXISTS"],
    ]);
    assert.equal(await createAccountsRepository(store).find("arthur"), undefined, "rolled back");
  });

  test("a good import creates every account with its hash; skipExisting leaves existing ones alone", async () => {
    const before = (await createAccountsRepository(store).find("zaphod"))!.passwordHash;
    const r = await admin.importHashes(
      [
        { line: 1, name: "arthur@example.org", hash: h },
        { line: 2, name: "zaphod", hash: h },
        ...Array.from({ length: 1500 }, (_, i) => ({ line: i + 3, name: `user${i}`, hash: h })),
      ],
      { skipExisting: true },
    );
    assert.deepEqual(r, { ok: true, added: 1501, skipped: ["zaphod"] });
    const repo = createAccountsRepository(store);
    assert.equal(await verifyPassword((await repo.find("arthur"))!.passwordHash, "pw"), true);
    assert.equal((await repo.find("zaphod"))!.passwordHash, before);
    assert.equal(await repo.count(), 1502);
  });
});

describe("the import and show routes", () => {
  const token = "import-route-token";
  let store: Store;
  let server: HealthServer;
  before(async () => {
    store = await openStore({ memory: true });
    await store.migrate(accountsMigrations);
    const admin = createAccountsAdmin(store);
    server = await startHealthServer({
      port: 0,
      host: "127.0.0.1",
      registry: createMetrics(undefined, { processMetrics: false }).registry,
      ready: () => true,
      routes: adminRoutes(
        {
          ...admin,
          show: async (name) =>
            name === "marvin"
              ? {
                  ok: true,
                  value: {
                    name,
                    createdAt: "2026-01-01T00:00:00.000Z",
                    disabled: false,
                    contacts: [],
                    pending: ["arthur"],
                    allow: [],
                    blocks: [],
                  },
                }
              : { ok: false, code: "NOT_FOUND", message: `no account ${name}` },
        },
        token,
      ),
    });
  });
  after(async () => {
    await server.close();
    await store.close();
  });

  test("POST /admin/import: 200 with the count, 409 with the problems, 400 for a malformed body", async () => {
    const h = await hashPassword("pw");
    const body = (users: unknown) => JSON.stringify({ users });
    const ok = await call(server.port, "POST", "/admin/import", {
      token,
      body: body([{ line: 1, name: "a", hash: h }]),
    });
    assert.deepEqual([ok.status, ok.body], [200, { ok: true, added: 1, skipped: [] }]);
    const again = await call(server.port, "POST", "/admin/import", {
      token,
      body: body([{ line: 5, name: "a", hash: h }]),
    });
    assert.equal(again.status, 409);
    assert.deepEqual(again.body["problems"], [
      { line: 5, code: "ACCOUNT_EXISTS", message: "account a already exists" },
    ]);
    const bad = await call(server.port, "POST", "/admin/import", { token, body: body([{ name: "a" }]) });
    assert.deepEqual([bad.status, bad.body["error"]], [400, "BAD_BODY"]);
    // Bigger than the 8 KiB of the other routes: thousands of accounts fit in one request.
    const many = Array.from({ length: 200 }, (_, i) => ({ line: i + 1, name: `m${i}`, hash: h }));
    const big = await call(server.port, "POST", "/admin/import", { token, body: body(many) });
    assert.deepEqual([big.status, big.body["added"]], [200, 200]);
  });

  test("GET /admin/users/:name answers show", async () => {
    const r = await call(server.port, "GET", "/admin/users/marvin", { token });
    assert.deepEqual([r.status, r.body["pending"]], [200, ["arthur"]]);
    const none = await call(server.port, "GET", "/admin/users/eddie", { token });
    assert.deepEqual([none.status, none.body["error"]], [404, "NOT_FOUND"]);
  });
});
