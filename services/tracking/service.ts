/**
 * The tracking domain's Moleculer service "tracking" (thin): checks the caller, calls the
 * intake, the registry or the engine, shapes the answer.
 *
 *   tracking.positions  POST /api/v1/tracking/positions (a client's devices' positions)
 *   tracking.register   PUT  /api/v1/tracking/devices
 *   tracking.pause / tracking.resume, tracking.nearby
 */
import type { Context, ServiceSchema } from "moleculer";
import { requireScope, type GatewayMeta, type HttpCallParams } from "../../gateway";
import { AppError, type ErrorDetail } from "../../lib/errors";
import type { KV, NatsConnection } from "../../nats";
import { encodeJson } from "../../actors/codec";
import { partitionOf } from "../../streams/subjects";
import { batchProblems, type DeviceBatch, type Registration } from "./model";
import type { TrackingEngine } from "./engine";
import type { TrackingNames } from "./streams";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;
type IdCall = HttpCallParams<{ id: string }>;

/** What the service works on. */
export interface TrackingServiceDeps {
  readonly engine: TrackingEngine;
  readonly registry: KV;
  readonly nc: NatsConnection;
  readonly names: TrackingNames;
  readonly partitions: number;
  /** Called with the service's broker once it exists (the notify job calls other domains with it). */
  onBroker(b: Context["broker"]): void;
}

/** The service over `d`. */
export function trackingService(d: TrackingServiceDeps): ServiceSchema {
  async function setPaused(c: Ctx<IdCall>, paused: boolean) {
    const client = requireScope(c, "tracking:write");
    const id = c.params.params.id;
    const e = await d.registry.get(id);
    const reg = e?.operation === "PUT" ? e.json<Registration>() : undefined;
    if (!e || !reg || reg.owner !== client.id) throw new AppError("NOT_FOUND", "device not found");
    if (reg.role !== "officer") throw new AppError("CONFLICT", "only officers pause sharing");
    await d.registry.update(id, JSON.stringify({ ...reg, paused }), e.revision);
    return { id, paused };
  }
  return {
    name: "tracking",
    created() {
      d.onBroker(this.broker);
    },
    actions: {
      positions(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, unknown>>) {
        const client = requireScope(c, "tracking:write");
        const r = batchProblems(c.params.body, Date.now());
        if ("problems" in r) throw new AppError("VALIDATION_ERROR", "invalid positions", r.problems);
        const foreign: ErrorDetail[] = [];
        r.positions.forEach((p, i) => {
          if (d.engine.registration(p.deviceId)?.owner !== client.id)
            foreign.push({ path: `/positions/${i}/deviceId`, message: "is not a device registered by this client" });
        });
        if (foreign.length > 0) throw new AppError("VALIDATION_ERROR", "unknown devices", foreign);
        const by = new Map<number, unknown[]>();
        for (const p of r.positions) {
          const part = partitionOf(p.deviceId, d.partitions);
          let l = by.get(part);
          if (!l) by.set(part, (l = []));
          l.push(p);
        }
        for (const [part, l] of by) d.nc.publish(d.names.positions(part), encodeJson(l));
        c.meta.$statusCode = 202;
        return { accepted: r.positions.length };
      },

      async register(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, DeviceBatch>>) {
        const client = requireScope(c, "tracking:write");
        const devices = c.params.body?.devices ?? [];
        const taken = devices
          .map((x, i) => ({ i, reg: d.engine.registration(x.id) }))
          .filter((x) => x.reg && x.reg.owner !== client.id)
          .map((x) => ({ path: `/devices/${x.i}/id`, message: "is registered by another client" }));
        if (taken.length > 0) throw new AppError("CONFLICT", "devices of another client", taken);
        await Promise.all(
          devices.map((x) => {
            const reg: Registration = {
              user: x.userId,
              role: x.role,
              owner: client.id,
              paused: d.engine.registration(x.id)?.paused ?? false,
            };
            return d.registry.put(x.id, JSON.stringify(reg)).then(() => d.engine.noteRegistration(x.id, reg));
          }),
        );
        return { registered: devices.length };
      },

      pause: (c: Ctx<IdCall>) => setPaused(c, true),
      resume: (c: Ctx<IdCall>) => setPaused(c, false),

      nearby(c: Ctx<IdCall>) {
        const client = requireScope(c, "tracking:read");
        const id = c.params.params.id;
        if (d.engine.registration(id)?.owner !== client.id) throw new AppError("NOT_FOUND", "device not found");
        return { device: id, nearby: d.engine.nearbyOf(id) };
      },
    },
  };
}
