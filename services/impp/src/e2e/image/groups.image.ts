// Avatars (their own container, as in compose) and group chats against the built image
// (npm run test:image).
import { groupsSuite } from "../groups.js";

groupsSuite("image");
