/**
 * Interaction records: one per answered request (batch items included), for analytics and the
 * quality agent. They carry the route template, never the path asked for (no ids, no query
 * strings), and no bodies, headers, credentials or tokens.
 */

/** One answered request. */
export interface Interaction {
  /** When the request arrived (ISO). */
  readonly at: string;
  /** The route template (`/api/v1/orders/{id}`), or `unmatched`. */
  readonly route: string;
  readonly method: string;
  /** The Moleculer service that answered (the action's service), or `gateway`. */
  readonly service: string;
  /** The version of the instance that answered (see gateway/canary.ts), or "" when none did. */
  readonly version: string;
  /** The client id, or `anonymous`. */
  readonly client: string;
  readonly status: number;
  readonly latencyMs: number;
  readonly requestId: string;
  /** True for an item of a batch (its requestId is `{batch request id}.{index}`). */
  readonly batch?: boolean;
}

/** The subject token of `service` (one NATS token; anything else becomes `_`). */
export function serviceToken(service: string): string {
  const t = service.replace(/[^A-Za-z0-9_-]/g, "_");
  return t === "" ? "_" : t.slice(0, 64);
}

/** The service of an action name (`orders.get` -> `orders`, `v2.orders.get` -> `orders`). */
export function serviceOfAction(action: string): string {
  const parts = action.split(".");
  return parts.length > 2 ? parts[parts.length - 2]! : parts[0]!;
}

/** True when a request is recorded under sampling rate `sample` (0..1), `rand` in [0,1). */
export function sampled(sample: number, rand: number): boolean {
  return sample >= 1 || rand < sample;
}
