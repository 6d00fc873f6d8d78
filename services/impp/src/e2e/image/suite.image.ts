// The end-to-end suite against containers of the built image (npm run test:image): migrate,
// services and two edges on host networking, users on different edges. Not part of npm test.
import { endToEndSuite } from "../suite.js";

endToEndSuite("image");
