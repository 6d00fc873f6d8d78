import { openStore } from "@impp/store";
import { freshDatabases } from "@impp/store/contract";
import { runOfflineStoreSuite } from "./offline-store-suite.js";

const freshDatabase = freshDatabases();
runOfflineStoreSuite("Postgres", async () => openStore({ databaseUrl: await freshDatabase(), poolSize: 4 }));
