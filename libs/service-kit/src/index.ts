// @impp/service-kit — the family-module contract and the plumbing every bus-served family shares:
// declared request shapes, serving a module's families in their queue groups (answer first, then
// the follow-up work), events between features, reply frames, and deliveries to edges. Test
// helpers live at "@impp/service-kit/testing" so production code never loads them.
export {
  type AccountDelivery,
  type DeliveryOutcome,
  deliver,
  deliverToAccount,
  deliverToMany,
  deliveryTimeout,
  type FanOut,
} from "./deliver.js";
export {
  defineEvent,
  type EventDefinition,
  type EventSubscription,
  type EventType,
  publishEvent,
  subscribeEvent,
} from "./events.js";
export {
  type AnyModule,
  type CompiledRoute,
  checkModules,
  defineModule,
  type FamilyModule,
  type FamilyRoutes,
  type ModuleContext,
  type Outcome,
  parseContext,
  type Request,
  type RequestRoute,
  route,
  type SessionNeed,
  type Started,
  selectModules,
  withDependencies,
} from "./module.js";
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
export {
  checkShape,
  compileShape,
  type FieldKind,
  type FieldKinds,
  type FieldSpec,
  type Fields,
  type ParseContext,
  type Shape,
  type ShapeParser,
  type TextClass,
  textAllowed,
} from "./schema.js";
export {
  dispatcher,
  type FamilyServer,
  moduleHandler,
  pastDeadline,
  type RequestHandler,
  replyErrorCode,
  type ServedModule,
  serveFamily,
  sessionAllows,
  settle,
  splitOutcome,
  startModule,
} from "./serve.js";
