import { openStore } from "@impp/store";
import { freshDatabases } from "@impp/store/contract";
import { runListsSuite } from "./lists-suite.js";

const freshDatabase = freshDatabases();
runListsSuite("Postgres", async () => openStore({ databaseUrl: await freshDatabase(), poolSize: 6 }));
