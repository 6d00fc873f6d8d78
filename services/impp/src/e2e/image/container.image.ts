// What only the image can show (npm run test:image): the operator's commands run from it, its
// processes run unprivileged over a read-only tree, and its HEALTHCHECK sees them healthy.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { connectAndLogin, type ImppClient } from "@impp/client";
import { type ImageCluster, startCluster } from "../../testing/cluster.js";
import { E2E_ENV } from "../suite.js";

describe("the image itself", () => {
  let cluster: ImageCluster;
  const clients: ImppClient[] = [];
  before(async () => {
    cluster = (await startCluster({ mode: "image", edges: 2, env: E2E_ENV })) as ImageCluster;
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await cluster?.stop();
  });

  test("`impp user add` in a one-off container (password on stdin) makes an account that logs in on both edges", async () => {
    const name = `op${randomBytes(4).toString("hex")}`;
    const added = await cluster.impp(["user", "add", name], "a long secret\n");
    assert.equal(added.code, 0, added.output);
    const listed = await cluster.impp(["user", "list"]);
    assert.equal(listed.code, 0, listed.output);
    assert.match(listed.output, new RegExp(name));
    for (const [i, e] of cluster.edges.entries()) {
      const c = await connectAndLogin({
        host: e.host,
        port: e.port,
        rejectUnauthorized: false,
        timeoutMs: 8000,
        name,
        password: "a long secret",
        deviceName: `op-${i}`,
      });
      clients.push(c);
      assert.equal((await c.ping()).isError, false);
    }
  });

  test("every server runs as uid 1000 and can write only its data folder", async () => {
    const names = cluster.containers();
    assert.equal(names.length, 4, `services, avatar and two edges: ${names.join(", ")}`);
    for (const name of names) {
      const id = await cluster.exec(name, ["id", "-u"]);
      assert.equal(id.output.trim(), "1000", `${name}: ${id.output}`);
      const app = await cluster.exec(name, ["sh", "-c", "touch /app/x"]);
      assert.notEqual(app.code, 0, `${name} could write into /app`);
      const data = await cluster.exec(name, ["sh", "-c", "touch /var/lib/impp/x && rm /var/lib/impp/x"]);
      assert.equal(data.code, 0, `${name} cannot write /var/lib/impp: ${data.output}`);
    }
  });

  test("the image's HEALTHCHECK reports every container healthy", async () => {
    // Dockerfile: the first probe runs after --interval (15 s); healthy on the first success.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const states: string[] = [];
      for (const name of cluster.containers())
        states.push(`${name}=${await cluster.inspect(name, "{{.State.Health.Status}}")}`);
      if (states.every((s) => s.endsWith("=healthy"))) break;
      assert.ok(!states.some((s) => s.endsWith("=unhealthy")), `unhealthy: ${states.join(", ")}`);
      assert.ok(Date.now() < deadline, `not healthy within 60 s: ${states.join(", ")}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  });
});
