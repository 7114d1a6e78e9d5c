/**
 * Canaries at run time: the records live in KV `{ns}_canaries` (key: the service); every
 * gateway node watches the bucket, so a change applies on every node at once, without a
 * restart. For a service with a canary the gateway picks the instance of each call itself
 * (versions are instance metadata: gateway/canary.ts), watches the answers of both groups in a
 * window and, every GATEWAY_CANARY_CHECK_MS, rolls the canary back when it is worse beyond its
 * thresholds, or promotes it once healthy when `promoteAfterMs` is set. Changes are
 * revision-checked writes (two nodes judging at once change it once), emitted as the Moleculer
 * event `gateway.canary.changed` `{ canary, previous, reason }` and logged, by the node that made them.
 *
 * Why instance metadata and not Moleculer versioned services (`v2.orders`): a versioned
 * service is another service, with its own action names and its own event group, so every
 * balanced event would reach both versions. Instances of one service that differ in version
 * share the actions and the event group; the gateway only chooses among their endpoints.
 */
import type { ServiceBroker } from "moleculer";
import type { KV, KvWatchEntry, QueuedIterator } from "../../nats";
import type { Logger } from "../../lib/logger";
import {
  applyCanaryInput,
  canaryTarget,
  CanaryWindow,
  DEFAULT_VERSION,
  isBaseline,
  judgeCanary,
  type CanaryInput,
  type CanaryRecord,
} from "../../gateway/canary";
import { serviceOfAction } from "../../gateway/interactions";
import { AppError } from "../../lib/errors";

/** The event every canary change is emitted as. */
export const CANARY_CHANGED_EVENT = "gateway.canary.changed";

/** Payload of {@link CANARY_CHANGED_EVENT}. */
export interface CanaryChanged {
  readonly canary: CanaryRecord;
  readonly previous: CanaryRecord | null;
  readonly reason: string;
}

/** The shape of a Moleculer action endpoint the gateway reads. */
interface EndpointLike {
  readonly id: string;
  readonly isAvailable: boolean;
  readonly node?: { readonly metadata?: Record<string, unknown> };
  readonly service?: { readonly metadata?: Record<string, unknown> };
}

/** The version an endpoint's instance declares (service metadata, then node metadata). */
export function versionOf(ep: unknown): string {
  const e = ep as EndpointLike | undefined;
  const v = e?.service?.metadata?.["version"] ?? e?.node?.metadata?.["version"];
  return typeof v === "string" || typeof v === "number" ? String(v) : DEFAULT_VERSION;
}

/** A chosen instance for a call. */
export interface Choice {
  readonly endpoint: unknown;
  readonly version: string;
}

/** Stats of one canary as an admin sees them. */
export interface CanaryView extends CanaryRecord {
  readonly window: ReturnType<CanaryWindow["stats"]>;
}

/** The canaries of one gateway node. */
export interface Canaries {
  /** The instance for a call of `action`, or undefined when its service has no canary (Moleculer balances). */
  choose(action: string): Choice | undefined;
  /** Records an answer of `service` by an instance of `version`. */
  observe(service: string, version: string, status: number, ms: number): void;
  /** Every canary with its window on this node. */
  list(): CanaryView[];
  get(service: string): CanaryView | undefined;
  /** Applies `input` to the canary of `service` (revision-checked), emits and logs the change. */
  set(service: string, input: CanaryInput, by: string): Promise<CanaryRecord>;
  /** Removes the canary of `service` (the gateway balances over every instance again); its last record, or undefined. */
  remove(service: string, by: string): Promise<CanaryRecord | undefined>;
  /** Judges every running canary now (the timer does this every GATEWAY_CANARY_CHECK_MS). */
  check(): Promise<void>;
  stop(): Promise<void>;
}

/** What the canaries need. */
export interface CanariesDeps {
  readonly kv: KV;
  readonly broker: ServiceBroker;
  readonly log: Logger;
  readonly nodeId: string;
  readonly checkMs: number;
  /** Counts a change by its new state and who made it (`admin` or `auto`). */
  readonly changed: (state: string, how: "admin" | "auto") => void;
  /** Counts a routed call. */
  readonly routed: (service: string, group: "canary" | "baseline") => void;
}

interface Held {
  record: CanaryRecord;
  revision: number;
}

/** Starts watching the bucket and judging (resolves once the current records are loaded). */
export async function startCanaries(deps: CanariesDeps): Promise<Canaries> {
  const { kv, broker, log } = deps;
  const held = new Map<string, Held>();
  const windows = new Map<string, CanaryWindow>();
  const dec = new TextDecoder();

  const windowOf = (service: string): CanaryWindow => {
    let w = windows.get(service);
    if (!w) {
      w = new CanaryWindow(() => held.get(service)?.record.thresholds.windowMs ?? 60_000);
      windows.set(service, w);
    }
    return w;
  };

  function apply(e: KvWatchEntry): void {
    if (e.operation !== "PUT") {
      held.delete(e.key);
      windows.get(e.key)?.clear();
      return;
    }
    try {
      const record = JSON.parse(dec.decode(e.value)) as CanaryRecord;
      const prev = held.get(e.key);
      if (prev && prev.revision >= e.revision) return;
      if (!prev || prev.record.startedAt !== record.startedAt || prev.record.state !== record.state)
        windows.get(e.key)?.clear();
      held.set(e.key, { record, revision: e.revision });
    } catch (err) {
      log.warn({ key: e.key, err: String(err) }, "canary record unreadable: ignored");
    }
  }

  const watcher: QueuedIterator<KvWatchEntry> = await kv.watch({ key: ">" });
  const loaded = (async () => {
    for await (const e of watcher) apply(e);
  })();
  void loaded.catch((err: unknown) => log.warn({ err: String(err) }, "canary watch ended"));
  // the watch delivers the current records first; read them directly too, so `set` after start sees them
  for await (const key of await kv.keys()) {
    const e = await kv.get(key);
    if (e && e.operation === "PUT") apply(e as unknown as KvWatchEntry);
  }

  async function write(service: string, next: CanaryRecord, prev: Held | undefined): Promise<void> {
    const data = JSON.stringify(next);
    const revision = prev ? await kv.update(service, data, prev.revision) : await kv.create(service, data);
    held.set(service, { record: next, revision });
    if (!prev || prev.record.startedAt !== next.startedAt || prev.record.state !== next.state)
      windows.get(service)?.clear();
  }

  function announce(next: CanaryRecord, previous: CanaryRecord | null, how: "admin" | "auto"): void {
    deps.changed(next.state, how);
    log.info(
      {
        service: next.service,
        version: next.version,
        share: next.share,
        state: next.state,
        by: next.by,
        reason: next.reason,
      },
      "canary changed",
    );
    const payload: CanaryChanged = { canary: next, previous, reason: next.reason };
    void broker.emit(CANARY_CHANGED_EVENT, payload).catch((err: unknown) => {
      log.warn({ err: String(err) }, "canary event not emitted");
    });
  }

  /** The freshest record of `service` (the watch may lag a write made elsewhere). */
  async function fresh(service: string): Promise<Held | undefined> {
    const e = await kv.get(service);
    if (!e || e.operation !== "PUT") return undefined;
    apply(e as unknown as KvWatchEntry);
    return held.get(service);
  }

  async function judge(service: string, h: Held): Promise<void> {
    const now = Date.now();
    const { canary, baseline } = windowOf(service).stats(now);
    const verdict = judgeCanary(h.record, canary, baseline, now);
    if (verdict.action === "none") return;
    const next: CanaryRecord = {
      ...h.record,
      state: verdict.action === "rollback" ? "rolled-back" : "promoted",
      updatedAt: new Date(now).toISOString(),
      reason: verdict.reason,
      by: `gateway:${deps.nodeId}`,
    };
    try {
      await write(service, next, h);
    } catch {
      // another node judged first (revision moved): its change stands
      await fresh(service).catch(() => undefined);
      return;
    }
    announce(next, h.record, "auto");
  }

  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    void check().finally(() => {
      checking = false;
    });
  }, deps.checkMs);
  timer.unref();

  async function check(): Promise<void> {
    for (const [service, h] of [...held]) {
      if (h.record.state !== "running") continue;
      await judge(service, h).catch((err: unknown) => log.warn({ service, err: String(err) }, "canary check failed"));
    }
  }

  const view = (h: Held): CanaryView => ({ ...h.record, window: windowOf(h.record.service).stats(Date.now()) });

  return {
    choose(action) {
      const service = serviceOfAction(action);
      const h = held.get(service);
      if (!h) return undefined;
      const list = broker.registry.getActionEndpoints(action) as unknown as
        { endpoints: readonly EndpointLike[] } | undefined;
      const available = (list?.endpoints ?? []).filter((ep) => ep.isAvailable);
      const canary = available.filter((ep) => versionOf(ep) === h.record.version);
      const base = available.filter((ep) => isBaseline(h.record, versionOf(ep)));
      const want = canaryTarget(h.record, Math.random());
      // with no instance of the wanted group, the other serves (a call is never refused for it)
      const group = want === "canary" ? (canary.length > 0 ? canary : base) : base.length > 0 ? base : canary;
      if (group.length === 0) return undefined;
      const endpoint = group[Math.floor(Math.random() * group.length)]!;
      const version = versionOf(endpoint);
      deps.routed(service, version === h.record.version ? "canary" : "baseline");
      return { endpoint, version };
    },
    observe(service, version, status, ms) {
      const h = held.get(service);
      if (!h || h.record.state !== "running") return;
      const isCanary = version === h.record.version;
      if (!isCanary && !isBaseline(h.record, version)) return;
      windowOf(service).observe(isCanary, status >= 500, ms, Date.now());
    },
    list: () => [...held.values()].map(view).sort((a, b) => a.service.localeCompare(b.service)),
    get(service) {
      const h = held.get(service);
      return h ? view(h) : undefined;
    },
    async set(service, input, by) {
      for (let attempt = 0; ; attempt++) {
        const prev = await fresh(service);
        const next = applyCanaryInput(service, prev?.record, input, by, new Date());
        if (typeof next === "string") throw new AppError("VALIDATION_ERROR", next);
        try {
          await write(service, next, prev);
        } catch (err) {
          if (attempt < 3) continue;
          throw new AppError("CONFLICT", `canary of ${service} changed meanwhile: ${String(err).slice(0, 100)}`);
        }
        announce(next, prev?.record ?? null, "admin");
        return next;
      }
    },
    async remove(service, by) {
      const prev = await fresh(service);
      if (!prev) return undefined;
      await kv.delete(service);
      held.delete(service);
      windows.get(service)?.clear();
      const gone: CanaryRecord = {
        ...prev.record,
        share: 0,
        state: "rolled-back",
        updatedAt: new Date().toISOString(),
        reason: "removed",
        by,
      };
      announce(gone, prev.record, "admin");
      return gone;
    },
    check,
    async stop() {
      clearInterval(timer);
      watcher.stop();
      await loaded.catch(() => undefined);
    },
  };
}
