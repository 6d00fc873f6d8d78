// Avatars and group chats end to end, distributed: services and two edges on NATS, Redis and
// PostgreSQL, members on different edges.
import { groupsSuite } from "./groups.js";

groupsSuite("distributed");
