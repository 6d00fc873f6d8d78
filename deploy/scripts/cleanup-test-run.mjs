#!/usr/bin/env node
// Removes what one `npm run test:image` run left on the shared servers: its databases
// (impp_img_<run id>_*) and its Redis keys (impp-img-<run id>-*). The suites drop their own
// database when they finish; this catches a run that was interrupted, and the Redis keys, which
// the servers leave behind. NATS needs nothing: the run's subjects vanish with its connections.
//
//   node deploy/scripts/cleanup-test-run.mjs <run id>
// Connects to IMPP_TEST_DATABASE_URL and IMPP_TEST_REDIS_URL (the test defaults otherwise).
import Redis from "ioredis";
import pg from "pg";

const runId = process.argv[2] ?? "";
// Never a broad pattern: this must only ever match one run's leftovers.
if (!/^[0-9a-z]+$/.test(runId)) {
  console.error(`refusing to clean up after run id ${JSON.stringify(runId)}`);
  process.exit(2);
}
let failed = false;

const dbPrefix = `impp_img_${runId}_`;
const client = new pg.Client({
  connectionString: process.env.IMPP_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
});
try {
  await client.connect();
  const { rows } = await client.query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", [
    dbPrefix,
  ]);
  for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  console.log(`    databases ${dbPrefix}*: ${rows.length} left over${rows.length ? ", dropped" : ""}`);
} catch (e) {
  console.error(`    databases ${dbPrefix}*: ${e.message}`);
  failed = true;
} finally {
  await client.end().catch(() => {});
}

const keyPattern = `impp-img-${runId}-*`;
const redis = new Redis(process.env.IMPP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379", {
  lazyConnect: true,
  maxRetriesPerRequest: 1,
});
try {
  await redis.connect();
  let cursor = "0";
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", keyPattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) removed += await redis.unlink(...keys);
  } while (cursor !== "0");
  console.log(`    redis keys ${keyPattern}: ${removed} removed`);
} catch (e) {
  console.error(`    redis keys ${keyPattern}: ${e.message}`);
  failed = true;
} finally {
  redis.disconnect();
}
process.exit(failed ? 1 : 0);
