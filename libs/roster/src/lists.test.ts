import { openStore } from "@impp/store";
import { runListsSuite } from "./lists-suite.js";

runListsSuite("PGlite in memory", () => openStore({ memory: true }));
