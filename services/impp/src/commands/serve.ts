import { createAccountsRepository } from "@impp/auth";
import { type Config, ConfigError, loadConfig } from "@impp/config";
import { type ServerHandle, startServer } from "../runtime.js";
import { capYoungGeneration, holdYoungGeneration } from "../young-generation.js";

export const serveHelp = `impp serve — run the server

Runs the roles named in IMPP_ROLES (default: all) in this process. With no
IMPP_NATS_URL / IMPP_REDIS_URL / IMPP_DATABASE_URL everything is embedded:
in-process bus and live state, PGlite in IMPP_DATA_DIR (default ./.impp), and a
self-signed certificate made there on first start. See \`impp help config\`.

SIGTERM drains (clients are told to reconnect elsewhere, then closed after
IMPP_DRAIN_GRACE_MS); SIGINT stops at once.`;

export async function serve(_args: string[], out = process.stdout, err = process.stderr): Promise<number> {
  const config = loadConfig(process.env);
  if (config instanceof ConfigError) {
    err.write(`impp serve: invalid configuration\n${config.message}\n`);
    return 2;
  }
  // Start-up allocates in bursts (PGlite, migrations) that would grow the young generation past
  // any cap before a GC observer could look: it stays at its initial size until started.
  if (config.maxSemiSpaceMb > 0) holdYoungGeneration();
  let server: ServerHandle;
  try {
    server = await startServer(config);
  } catch (e) {
    err.write(`impp serve: could not start: ${(e as Error).message}\n`);
    return 1;
  }
  if (config.maxSemiSpaceMb > 0) capYoungGeneration(config.maxSemiSpaceMb);
  const text = await banner(server, config);
  // The handlers go in before the banner is out: a signal sent on seeing it (a supervisor, a test)
  // must stop the server cleanly, not kill it with its admin endpoint file left behind.
  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const finish = (how: "drain" | "stop") => {
      if (stopping) {
        // A second signal means "now": the operator does not want to wait for the grace period.
        process.exit(1);
      }
      stopping = true;
      out.write(how === "drain" ? "draining…\n" : "stopping…\n");
      const done = how === "drain" ? server.drain() : server.stop();
      done.then(
        () => resolve(0),
        (e: unknown) => {
          err.write(`impp serve: error while stopping: ${(e as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => finish("drain"));
    process.once("SIGINT", () => finish("stop"));
  });
  out.write(text);
  return await stopped;
}

async function banner(server: ServerHandle, config: Config): Promise<string> {
  const lines: string[] = [];
  const mode = (real: string | undefined, embedded: string) => (real ? "external" : embedded);
  lines.push(`impp: serving roles ${config.roles.join(", ")} (pid ${process.pid})`);
  lines.push(
    `  bus: ${mode(config.natsUrl, "in-process")}, live state: ${mode(config.redisUrl, "in-process")}, ` +
      `database: ${server.store ? (server.store.kind === "pglite" ? `embedded in ${config.dataDir}` : "PostgreSQL") : "none (no role here needs one)"}`,
  );
  if (server.edge) {
    lines.push(`  edge id: ${server.edge.edgeId} (new on every start; prefix ${config.edgePrefix})`);
    const { plain, tls } = server.edge.ports;
    lines.push(
      `  IMPP on ${config.host}:${plain} (TLS started in-band)${tls ? `, TLS-first on ${config.host}:${tls}` : ""}`,
    );
  }
  if (server.tls) {
    const how = {
      generated: "generated a self-signed certificate",
      replaced: "replaced an outdated self-signed certificate with a new one",
      "data-dir": "self-signed certificate",
      files: "certificate",
    }[server.tls.source];
    lines.push(`  TLS: ${how} at ${server.tls.certPath}`);
    lines.push(`  TLS certificate SHA-256 fingerprint: ${server.tls.fingerprint256}`);
    if (server.tls.source !== "files")
      lines.push("    (clients ask to accept it on first connect: compare this fingerprint)");
  }
  if (server.http) lines.push(`  health and metrics: http://${config.host}:${server.http.port}/metrics`);
  if (server.store) {
    const users = await createAccountsRepository(server.store).count();
    if (users === 0) {
      lines.push("");
      lines.push("No users yet. Add one (the server may keep running):");
      lines.push("  npx impp user add alice --password 'a long secret'");
    } else {
      lines.push(`  ${users} user(s); manage them with \`npx impp user list|add|passwd|remove\``);
    }
  }
  if (server.edge) {
    lines.push(
      `Connect an IMPP client (e.g. Trillian) to ${config.serverName.replace(/:\d+$/, "")}:${server.edge.ports.plain}.`,
    );
  }
  lines.push("Stop with Ctrl-C (SIGINT) or drain with SIGTERM.");
  return `${lines.join("\n")}\n`;
}
