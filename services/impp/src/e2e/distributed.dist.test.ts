// The end-to-end suite distributed: services and two edges as separate processes on real
// NATS, Redis and PostgreSQL, the two users of each conversation on different edges.
import { endToEndSuite } from "./suite.js";

endToEndSuite("distributed");
