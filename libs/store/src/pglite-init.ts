// Run by openStore in a child process: `node pglite-init.js <folder> <shared_buffers MiB>` makes
// PGlite's database in an empty folder and exits. initdb is a Postgres of its own (another
// WebAssembly module and memory); done in the server's process it leaves hundreds of MiB behind.
import { PGlite } from "@electric-sql/pglite";
import { pgliteStartParams } from "./store.js";

const [dataDir, sharedBuffersMb] = process.argv.slice(2);
if (dataDir === undefined) throw new Error("usage: pglite-init.js <folder> [shared_buffers MiB]");
const pg = await PGlite.create({
  dataDir,
  startParams: pgliteStartParams(PGlite.defaultStartParams, Number(sharedBuffersMb ?? 16)),
});
await pg.close();
