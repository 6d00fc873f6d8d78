import { realClientSuite } from "./real-client.js";

realClientSuite("distributed");
