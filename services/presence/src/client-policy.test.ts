import assert from "node:assert/strict";
import { test } from "node:test";
import { checkClient, compareVersions } from "./client-policy.js";

test("versions compare as dotted numbers", () => {
  assert.equal(compareVersions("6.1", "6.10"), -1);
  assert.equal(compareVersions("6.10", "6.9"), 1);
  assert.equal(compareVersions("6", "6.0.0"), 0);
  assert.equal(compareVersions("5.2.1.33", "5.3"), -1);
  assert.equal(compareVersions("6.1-beta", "6.1"), 0, "a suffix compares by its leading number");
});

test("bans by name (case-insensitive) and by version", () => {
  const bans = [{ name: "OldChat" }, { name: "Trillian", below: "6.1" }];
  assert.deepEqual(checkClient(bans, { clientName: "oldchat", clientVersion: "99" }), {});
  assert.deepEqual(checkClient(bans, { clientName: "Trillian", clientVersion: "6.0.9" }), {
    upgradeTo: "6.1",
  });
  assert.deepEqual(
    checkClient(bans, { clientName: "TRILLIAN" }),
    { upgradeTo: "6.1" },
    "no version: not proven new",
  );
  assert.equal(checkClient(bans, { clientName: "Trillian", clientVersion: "6.1" }), undefined);
  assert.equal(checkClient(bans, { clientName: "Pidgin", clientVersion: "1" }), undefined);
  assert.equal(checkClient(bans, {}), undefined, "a client that names nothing is not matched by name");
  assert.equal(checkClient([], { clientName: "OldChat" }), undefined);
});
