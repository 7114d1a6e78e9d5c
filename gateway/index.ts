/**
 * The gateway's public surface for domain code: route table types, access helpers and the
 * error shape. Domains declare `routes` (RouteSpec[]) in their Domain and use `requireScope`,
 * `assertOwner`, `clientOf` and (operator surfaces) `requireOperator` / `requireCaller` /
 * `requireNodeOrOperator` in their actions; the gateway and the broker middleware do the rest.
 */
export type {
  HeaderParam,
  RouteSpec,
  RouteAccess,
  RouteBody,
  RouteResponse,
  Scope,
  MediaType,
  HttpMethod,
  JsonSchema,
  RawBody,
  HttpCallParams,
  GatewayMeta,
  AuthenticatedClient,
} from "./routes";
export { SCOPE_PATTERN, checkRouteTable, toColonPath, toOpenApiPath } from "./routes";
export {
  clientOf,
  callerOf,
  requireClient,
  requireScope,
  requireCaller,
  requireOperator,
  requireNodeOrOperator,
  hasScope,
  assertOwner,
  OPERATOR,
  endUserOf,
  requireSelf,
  refuseEndUser,
} from "./access";
export { callerTokens, operatorMeta, type Caller, type CallerKind, type CallerTokens } from "./caller";
export { toHttpError, errorBody, ERROR_BODY_SCHEMA, type ErrorBody, type HttpError } from "./errors";
export {
  cursorQuery,
  cursorOf,
  seqCursorOf,
  nextSeqCursor,
  SEQ_CURSOR,
  intCursorQuery,
  intCursorOf,
  NEXT_CURSOR,
  withNextCursor,
} from "./pagination";
export { buildOpenApi, missingFromOpenApi, type OpenApiDocument } from "./openapi";
