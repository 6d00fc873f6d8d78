// Contact lists and presence end to end on the embedded server.
import { rosterSuite } from "./roster.js";

rosterSuite("embedded");
