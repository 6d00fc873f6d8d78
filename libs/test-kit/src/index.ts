// @impp/test-kit — what the packages' tests share. Only *.test.ts and test-support files import
// it; production code never does.
export { authenticateBlock, bindBlock, featuresBlock, frameBytes } from "./blocks.js";
export { type TestCert, testCert } from "./cert.js";
export {
  assertTlv,
  errorCode,
  FrameReader,
  frames,
  only,
  tlvs,
  type WireFrame,
  type WireTlvFrame,
} from "./readers.js";
export { freeTcpPort, startNatsServer, startRedisServer, type TestServer } from "./servers.js";
export { TestClient } from "./test-client.js";
export { turns } from "./turns.js";
