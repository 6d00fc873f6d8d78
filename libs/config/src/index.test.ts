import assert from "node:assert/strict";
import { test } from "node:test";

test("the package entry point exports the public API", async () => {
  const m = await import("@impp/config");
  for (const name of [
    "loadConfig",
    "ConfigError",
    "renderSettingsMarkdown",
    "renderSettingsText",
    "redactUrl",
  ]) {
    assert.equal(typeof (m as Record<string, unknown>)[name], "function", name);
  }
  assert.ok(Array.isArray(m.settings) && m.settings.length > 20);
  assert.deepEqual(m.ROLES, ["edge", "auth", "roster", "presence", "messaging", "avatar", "groupchat"]);
});
