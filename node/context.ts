/**
 * What a node opens once at start-up and hands to every service factory. Services never
 * open their own connections (Temporal's createActivities(db) pattern).
 */
import type { ServiceSchema } from "moleculer";
import type { Config, ServiceName } from "../config";
import type { Logger } from "../lib/logger";
import type { NatsHandles } from "../nats";
import type { Pool, Migration } from "../db";
import type { Topology } from "../streams/subjects";
import type { Declaration } from "../streams/declarations";
import type { ActorKind, JobDefinition } from "../actors/types";
import type { ActorRuntime } from "../actors/types";
import type { Redis } from "ioredis";
import type { Registry } from "prom-client";
import type { HealthRegistry } from "../lib/health";
import type { RouteSpec } from "../gateway/routes";

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
}

/**
 * A domain plugs into a node through this: its tables, its streams, its actor kinds and jobs
 * (hosted by every node that runs the domain), and its Moleculer services.
 */
export interface Domain {
  readonly name: ServiceName;
  readonly migrations?: readonly Migration[];
  declarations?(topology: Topology, config: Config): Declaration[];
  kinds?(config: Config): ActorKind<any, any>[];
  jobs?(config: Config): JobDefinition<any, any>[];
  /**
   * HTTP routes of the domain, served by the gateway of every node (whichever node hosts the
   * actions): the one source of the gateway's aliases and of the OpenAPI document.
   */
  readonly routes?: readonly RouteSpec[];
  services(ctx: NodeContext): ServiceSchema[];
}
