import { openStore } from "@impp/store";
import { freshDatabases } from "@impp/store/contract";
import { runAvatarsSuite } from "./avatars-suite.js";

const freshDatabase = freshDatabases();
runAvatarsSuite("Postgres", async () => openStore({ databaseUrl: await freshDatabase(), poolSize: 6 }));
