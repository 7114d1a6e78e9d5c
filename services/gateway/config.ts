/**
 * The gateway domain's own settings (batches, prefetching, interactions, canaries, heartbeat,
 * backup role). They extend the platform's `config.gateway` (config/index.ts) in place: this
 * domain's section is named `gateway` too, so the section returns the platform's settings with
 * `edge` added, and `config.gateway.edge` is typed by the augmentation below.
 */
import type { GatewayConfig, PlatformConfig } from "../../config";
import type { Env, EnvReader } from "../../config/env";

/** Settings of the gateway's edge functions. */
export interface EdgeConfig {
  /** Items of one batch run at once at most (the rest wait; dependencies wait for theirs). */
  readonly batchConcurrency: number;
  /** GATEWAY_INTERACTIONS: publish interaction records (on) or not (off). */
  readonly interactions: boolean;
  /** GATEWAY_INTERACTIONS_SAMPLE: share of requests recorded, 0..1. */
  readonly interactionsSample: number;
  /** How long the interactions stream keeps records (limits retention), seconds. */
  readonly interactionsMaxAgeSec: number;
  /** Largest size of the interactions stream, bytes (oldest records go first). */
  readonly interactionsMaxBytes: number;
  /** How often a canary's window is judged, milliseconds. */
  readonly canaryCheckMs: number;
  /** "primary" (serves, writes its heartbeat) or "backup" (idles until the primary's heartbeat stops). */
  readonly role: "primary" | "backup";
  /** How often the primary writes its heartbeat, milliseconds. */
  readonly heartbeatMs: number;
  /** A backup takes over once the primary's heartbeat is this old, milliseconds. */
  readonly heartbeatTimeoutMs: number;
}

declare module "../../config" {
  interface DomainConfigs {
    /** The platform's gateway settings, with the gateway domain's `edge` (services/gateway/config.ts). */
    readonly gateway: GatewayConfig & { readonly edge: EdgeConfig };
  }
}

function ratio(r: EnvReader, env: Env, name: string, def: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    r.problems.push(`${name}=${JSON.stringify(raw)} is invalid: expected a number from 0 to 1`);
    return def;
  }
  return n;
}

/** Reads the edge settings (GATEWAY_*) beside the platform's gateway settings. */
export function gatewaySection(r: EnvReader, env: Env, platform: PlatformConfig): GatewayConfig & { edge: EdgeConfig } {
  const onOff = r.match("GATEWAY_INTERACTIONS", "on", /^(on|off)$/, "on or off");
  const role = r.match("GATEWAY_ROLE", "primary", /^(primary|backup)$/, "primary or backup");
  const heartbeatMs = r.int("GATEWAY_HEARTBEAT_MS", 1000, 100, 60_000);
  return {
    ...platform.gateway,
    edge: {
      batchConcurrency: r.int("GATEWAY_BATCH_CONCURRENCY", 16, 1, 100),
      interactions: onOff === "on",
      interactionsSample: ratio(r, env, "GATEWAY_INTERACTIONS_SAMPLE", 1),
      interactionsMaxAgeSec: r.int("GATEWAY_INTERACTIONS_MAX_AGE_SEC", 7 * 86_400, 60, 365 * 86_400),
      interactionsMaxBytes: r.int("GATEWAY_INTERACTIONS_MAX_BYTES", 1024 ** 3, 1024 * 1024, 2 ** 50),
      canaryCheckMs: r.int("GATEWAY_CANARY_CHECK_MS", 1000, 100, 600_000),
      role: role === "backup" ? "backup" : "primary",
      heartbeatMs,
      heartbeatTimeoutMs: r.int("GATEWAY_HEARTBEAT_TIMEOUT_MS", 3000, 300, 600_000),
    },
  };
}
