import { ConfigError, loadConfig } from "@impp/config";
import { migrateModules, openConfiguredStore } from "../runtime.js";

export const migrateHelp = `impp migrate — bring the database schema up to date

Runs every module's schema migrations (each module's in its own table, in
dependency order) on PostgreSQL (IMPP_DATABASE_URL) or on the embedded database
in IMPP_DATA_DIR, and exits. \`impp serve\` also migrates at start; run
this ahead of a rolling upgrade so new replicas start on a ready schema.`;

export async function migrate(_args: string[], out = process.stdout, err = process.stderr): Promise<number> {
  const config = loadConfig(process.env);
  if (config instanceof ConfigError) {
    err.write(`impp migrate: invalid configuration\n${config.message}\n`);
    return 2;
  }
  try {
    const store = await openConfiguredStore(config);
    try {
      for (const { role, report } of await migrateModules(store)) {
        out.write(
          report.applied.length > 0
            ? `${role}: applied ${report.applied.length} migration(s): ${report.applied.join(", ")}\n`
            : `${role}: schema up to date (${report.current ?? "empty"})\n`,
        );
        if (report.unknown.length > 0) {
          out.write(
            `${role}: note: the database has newer migrations this version does not know: ${report.unknown.join(", ")}\n`,
          );
        }
      }
      return 0;
    } finally {
      await store.close();
    }
  } catch (e) {
    err.write(`impp migrate: ${(e as Error).message}\n`);
    return 1;
  }
}
