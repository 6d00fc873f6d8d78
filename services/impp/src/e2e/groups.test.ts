// Avatars and group chats end to end on the embedded server.
import { groupsSuite } from "./groups.js";

groupsSuite("embedded");
