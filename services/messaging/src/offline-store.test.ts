import { openStore } from "@impp/store";
import { runOfflineStoreSuite } from "./offline-store-suite.js";

runOfflineStoreSuite("PGlite in memory", () => openStore({ memory: true }));
