import { openStore } from "@impp/store";
import { runAccountsSuite } from "./accounts-suite.js";

runAccountsSuite("PGlite in memory", () => openStore({ memory: true }));
