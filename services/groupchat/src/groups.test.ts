import { openStore } from "@impp/store";
import { runGroupsSuite } from "./groups-suite.js";

runGroupsSuite("PGlite in memory", () => openStore({ memory: true }));
