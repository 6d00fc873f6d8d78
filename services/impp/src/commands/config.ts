import { ConfigError, loadConfig, renderSettingsMarkdown, renderSettingsText } from "@impp/config";
import type { CommandIo } from "../command.js";

export const help = `impp config — the settings reference, or a check of this environment

  impp config             every setting with its default and meaning
  impp config --markdown  the same as Markdown (docs/configuration.md is this output)
  impp config --check     validate the current environment; exit 2 naming every bad variable`;

export async function run(args: string[], io: CommandIo): Promise<number> {
  if (args.includes("--check")) {
    const config = loadConfig(process.env);
    if (config instanceof ConfigError) {
      io.stderr.write(`${config.message}\n`);
      return 2;
    }
    for (const w of config.warnings) io.stderr.write(`warning: ${w.variable}: ${w.problem}\n`);
    io.stdout.write(`configuration ok: roles ${config.roles.join(", ")}, port ${config.port}\n`);
    return 0;
  }
  if (args.length > 0 && !args.includes("--markdown")) {
    io.stderr.write(`impp config: unknown option ${args[0]}\n\n${help}\n`);
    return 2;
  }
  io.stdout.write(args.includes("--markdown") ? renderSettingsMarkdown() : renderSettingsText());
  return 0;
}
