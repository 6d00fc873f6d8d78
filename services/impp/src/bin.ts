// The `impp` command: a table of subcommands, each a module under ./commands loaded on demand
// (so `impp decode` does not load the server). Runs itself when it is the process entry point
// (node dist/bin.js, or the bin/impp.js shim that npm links as `impp`).
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CommandIo, CommandModule } from "./command.js";

export interface CommandEntry {
  summary: string;
  load(): Promise<CommandModule>;
}

// Adding a command: one line here, and src/commands/<name>.ts exporting `help` and `run`.
export const commands: Readonly<Record<string, CommandEntry>> = {
  serve: { summary: "run the server (all roles embedded by default)", load: () => serveModule() },
  user: {
    summary: "add, list, change or remove accounts (server running or not)",
    load: async () => {
      const m = await import("./commands/user.js");
      return { help: m.userHelp, run: (args, io) => m.user(args, { stdin: io.stdin }) };
    },
  },
  migrate: {
    summary: "bring the database schema up to date",
    load: async () => {
      const m = await import("./commands/migrate.js");
      return { help: m.migrateHelp, run: (args) => m.migrate(args) };
    },
  },
  config: {
    summary: "the settings reference, or --check this environment",
    load: () => import("./commands/config.js"),
  },
  chat: {
    summary: "chat from the terminal: contacts, presence, messages",
    load: () => import("./commands/chat.js"),
  },
  decode: {
    summary: "decode IMPP messages from hex (readable or --json)",
    load: () => import("./commands/decode.js"),
  },
};

async function serveModule(): Promise<CommandModule> {
  const m = await import("./commands/serve.js");
  return {
    help: m.serveHelp,
    run: async (args) => {
      const code = await m.serve(args);
      // Everything is stopped by now; a library that keeps a handle open must not keep the process up.
      setTimeout(() => process.exit(code), 2000).unref();
      return code;
    },
  };
}

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: impp <command> [options]

commands:
${lines.join("\n")}
  ${"help".padEnd(width)}  this list; \`impp help <command>\` for one command`;
}

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" ? args[0] : undefined;
    if (topic === undefined) {
      io.stdout.write(usage() + "\n");
      return 0;
    }
    const entry = commands[topic];
    if (entry === undefined) return unknown(topic, io);
    io.stdout.write((await entry.load()).help + "\n");
    return 0;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (entry === undefined) return unknown(name, io);
  const command = await entry.load();
  return command.run(args, io);
}

function unknown(name: string, io: CommandIo): number {
  io.stderr.write(`impp: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
  return 2;
}

function isEntryPoint(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  let entry: string;
  try {
    entry = realpathSync(argv1);
  } catch {
    return false;
  }
  const self = fileURLToPath(import.meta.url);
  const shim = fileURLToPath(new URL("../bin/impp.js", import.meta.url));
  return entry === self || entry === shim;
}

if (isEntryPoint()) {
  const io: CommandIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`impp: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
