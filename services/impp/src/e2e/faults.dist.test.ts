// kill -9 of the recipient's edge while IMs stream to it (distributed: services and two edges on
// NATS, Redis, Postgres): the recipient is online, goes offline with its edge, and comes back on
// the restarted edge. Every acknowledged message is received or stored.
import { recipientEdgeKillTest } from "./faults.js";

recipientEdgeKillTest("distributed");
