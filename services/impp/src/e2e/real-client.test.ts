import { realClientSuite } from "./real-client.js";

realClientSuite("embedded");
