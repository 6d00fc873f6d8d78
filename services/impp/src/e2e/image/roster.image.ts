// Contact lists and presence against containers of the built image (npm run test:image).
import { rosterSuite } from "../roster.js";

rosterSuite("image");
