/**
 * The tracking domain module: position intake (HTTP batches and core NATS), one device actor
 * per device on the owner of its partition, H3-style cell membership per role in KV, proximity
 * between civilians and officers with durable nearby / faraway events, and the notify job that
 * pushes through the notifications domain and scores the encounter (`rewards.score`).
 */
import type { ServiceBroker } from "moleculer";
import { defineDomain } from "../../node/domain";
import { encodeJson } from "../../actors/codec";
import { connectNats } from "../../nats";
import type { JobEnvelope } from "../../actors/types";
import { trackingConfig } from "./config";
import { TrackingEngine } from "./engine";
import { NOTIFY_JOB, notifyCounter, notifyJob, type NotifyDeps } from "./jobs";
import { trackingRoutes } from "./routes";
import { trackingService } from "./service";
import { trackingDeclarations, trackingNames } from "./streams";

/** The tracking domain (see the module doc). */
export const trackingDomain = defineDomain<NotifyDeps>({
  name: "tracking",
  summary: "positions, one device actor per device, cells in KV, durable 'an officer is nearby' notifications",
  config: trackingConfig,
  declare: (config, topo) => ({
    streams: trackingDeclarations(topo, config),
    jobs: [notifyJob()],
    routes: trackingRoutes,
  }),
  async start(ctx) {
    const t = ctx.config.tracking;
    const names = trackingNames(ctx.topology.ns);
    let broker: ServiceBroker | undefined;
    // the one connection a domain opens itself (see EngineDeps.intake): bulk traffic on its own socket
    const intake = await connectNats(ctx.config.natsUrl, `switchyard-${ctx.config.nodeId}-tracking-intake`);
    const engine = new TrackingEngine({
      nats: ctx.nats,
      intake,
      names,
      config: t,
      nodeId: ctx.config.nodeId,
      logger: ctx.logger.child({ domain: "tracking" }),
      metrics: ctx.metrics,
      async notify(e) {
        if (!t.push && !t.score) return;
        const now = Date.now();
        const id = `${NOTIFY_JOB}:${e.id}`;
        const env: JobEnvelope = {
          id,
          job: NOTIFY_JOB,
          data: e,
          deadline: now + t.notifyDeadlineMs,
          createdAt: now,
          replyTo: null,
        };
        await ctx.nats.js.publish(ctx.topology.jobs.subject(NOTIFY_JOB, e.meetingId), encodeJson(env), { msgID: id });
      },
    });
    try {
      await engine.start();
    } catch (err) {
      await intake.nc.close().catch(() => undefined);
      throw err;
    }
    ctx.health.register("tracking", () => ({ ok: engine.allOwned() }));
    const registry = await ctx.nats.kvm.open(names.registryBucket);
    return {
      services: [
        trackingService({
          engine,
          registry,
          nc: ctx.nats.nc,
          names,
          partitions: t.partitions,
          onBroker: (b) => (broker = b),
        }),
      ],
      deps: {
        broker: () => broker,
        push: t.push,
        score: t.score,
        radiusM: t.rules.radiusM,
        outcomes: notifyCounter(ctx.metrics),
      },
      stop: async () => {
        await engine.stop();
        await intake.nc.drain().catch(() => undefined);
      },
    };
  },
});
