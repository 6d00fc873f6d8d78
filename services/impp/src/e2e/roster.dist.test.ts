// Contact lists and presence end to end, distributed: services and two edges on NATS, Redis and
// PostgreSQL, each pair of users on different edges.
import { rosterSuite } from "./roster.js";

rosterSuite("distributed");
