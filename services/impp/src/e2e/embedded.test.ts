// The end-to-end suite on the embedded server: everything in one process.
import { endToEndSuite } from "./suite.js";

endToEndSuite("embedded");
