import { openStore } from "@impp/store";
import { freshDatabases } from "@impp/store/contract";
import { runAccountsSuite } from "./accounts-suite.js";

const freshDatabase = freshDatabases();
runAccountsSuite("Postgres", async () => openStore({ databaseUrl: await freshDatabase(), poolSize: 4 }));
