/**
 * What a node opens once at start-up and hands to every service factory. Services never
 * open their own connections (Temporal's createActivities(db) pattern), with one exception:
 * the tracking domain opens a second NATS connection for its bulk position intake, so that
 * the node's replies never queue behind it (its engine's `EngineDeps.intake`).
 */
import type { Config } from "../config";
import type { Logger } from "../lib/logger";
import type { NatsHandles } from "../nats";
import type { Pool } from "../db";
import type { Topology } from "../streams/subjects";
import type { ActorRuntime } from "../actors/types";
import type { Redis } from "ioredis";
import type { Registry } from "prom-client";
import type { HealthRegistry } from "../lib/health";
import type { RouteSpec } from "../gateway/routes";
import type { ConsolePage } from "./console-page";
import type { AdmissionRegistry } from "../lib/admission";

/** Connections and shared parts of one node. */
export interface NodeContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly nats: NatsHandles;
  readonly pg: Pool;
  readonly topology: Topology;
  readonly redis: Redis;
  readonly runtime: ActorRuntime;
  /** Readiness checks of this node (GET /health/ready). */
  readonly health: HealthRegistry;
  /** Prometheus metrics of this node (GET /metrics). */
  readonly metrics: Registry;
  /** Every domain's HTTP routes (the gateway serves them all, whichever node hosts the actions). */
  readonly routes: readonly RouteSpec[];
  /** Every domain's console pages, with the domain that contributes each (the console lists them). */
  readonly consolePages?: readonly (ConsolePage & { readonly domain: string })[];
  /** The admission checks of the intakes this process hosts (the gateway sheds load with them). */
  readonly admission?: AdmissionRegistry;
}
