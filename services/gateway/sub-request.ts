/** The shape of a request the gateway runs in process (batch items, related reads) and its answer. */
import type { HttpMethod, RouteSpec } from "../../gateway/routes";
import type { Principal } from "./clients";

/** A request to run in process. */
export interface SubRequest {
  readonly method: HttpMethod;
  /** Path and query. */
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly requestId: string;
}

/** Its answer. */
export interface SubResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  /** The matched route (template), or `unmatched`. */
  readonly route: string;
  readonly spec?: RouteSpec;
  readonly service: string;
  readonly version: string;
}

/** Runs one sub-request for `principal` (see the module doc). */
export type Dispatch = (principal: Principal | undefined, req: SubRequest) => Promise<SubResponse>;
