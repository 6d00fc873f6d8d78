import { openStore } from "@impp/store";
import { runAvatarsSuite } from "./avatars-suite.js";

runAvatarsSuite("PGlite in memory", () => openStore({ memory: true }));
