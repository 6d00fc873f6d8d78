// @impp/service-kit — the plumbing every bus-served family shares: serving subjects.request(family)
// in its queue group, reply frames for a request, and deliveries to edges. Test helpers live at
// "@impp/service-kit/testing" so production code never loads them.
export { type AccountDelivery, byEdge, type DeliveryOutcome, deliver, deliverToAccount } from "./deliver.js";
export {
  asBuffer,
  errorFrame,
  errorReply,
  fromProtocolError,
  invalidValue,
  isExtension,
  isFailure,
  RequestFailure,
  responseFrame,
} from "./request.js";
export { type FamilyServer, type RequestHandler, replyErrorCode, safely, serveFamily } from "./serve.js";
