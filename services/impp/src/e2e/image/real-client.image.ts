// What a real client sends after binding, against containers of the built image (npm run test:image).
import { realClientSuite } from "../real-client.js";

realClientSuite("image");
