// docker kill -s KILL of the recipient's edge container mid-stream, then a new edge container
// (npm run test:image).
import { recipientEdgeKillTest } from "../faults.js";

recipientEdgeKillTest("image");
