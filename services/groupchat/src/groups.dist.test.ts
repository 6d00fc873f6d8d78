import { openStore } from "@impp/store";
import { freshDatabases } from "@impp/store/contract";
import { runGroupsSuite } from "./groups-suite.js";

const freshDatabase = freshDatabases();
runGroupsSuite("Postgres", async () => openStore({ databaseUrl: await freshDatabase(), poolSize: 6 }));
