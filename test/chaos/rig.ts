/**
 * The chaos rig: a 3-server NATS JetStream cluster (streams and buckets at R3), private
 * Postgres and Redis, the simulators of every downstream, and Switchyard nodes as child
 * processes hosting receipts, supporters and tenant events, all in one fresh namespace. Steady
 * mixed load runs through it while a fault row is injected; the rig then waits for the backlog
 * to drain and counts what matters: accepted but never finished (lost), external duplicates,
 * per-key order violations, time until every partition is owned again, time until readiness is
 * back, and the backlog's peak and catch-up time.
 */
import { createPool, type Pool } from "../../db";
import { DEV_MASTER_KEY } from "../../config";
import { createKeyring } from "../../lib/sealed";
import { connectNats, type NatsHandles } from "../../nats";
import { loadConfig } from "../../node/config";
import { topology, type Topology } from "../../streams/subjects";
import { createClient, createClientStore } from "../../services/gateway/clients";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { NatsCluster } from "../support/nats-cluster";
import { PrivatePostgres, PrivateRedis } from "../support/private-servers";
import { freshNamespace } from "../support/namespace";
import { startChild, type ChildNode } from "../support/node";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";
import { call } from "../support/http";
import {
  ReceiptLoad,
  TerminalCollector,
  startSims as startReceiptSims,
  type Sims as ReceiptSims,
} from "../receipts/harness";
import { startSims as startSupporterSims, type Sims as SupporterSims } from "../supporters/harness";
import { SupporterLoad, TenantEventLoad } from "./loads";

/** How big the rig and its load are. */
export interface RigOptions {
  readonly nodes: number;
  /** Receipts per second. */
  readonly receiptRate: number;
  /** Supporters sending at once (each one message after the other, at most one per SUPPORTER_INTERVAL_MS). */
  readonly supporters: number;
  /** Tenant events per second (in batches of 10). */
  readonly eventRate: number;
  readonly partitions: number;
  /**
   * Run the last NATS server in its own network namespace, so that the partition row can cut
   * it off (needs root and `ip netns`; `npm run chaos` sets it, the suite does not).
   */
  readonly partitionable?: boolean;
}

export const DEFAULT_RIG: RigOptions = { nodes: 2, receiptRate: 20, supporters: 20, eventRate: 100, partitions: 8 };

/** One Switchyard node of the rig. */
interface RigNode {
  readonly id: string;
  readonly port: number;
  child: ChildNode | null;
}

/** What the observer samples while a row runs. */
export interface Observation {
  /** ms from the fault until every partition of every kind was leased by a live node again (0 if never lost). */
  ownedAgainMs: number | null;
  /** ms from the fault until every live node answered /health/ready 200 again. */
  readyAgainMs: number | null;
  /** ms from the fault until some node's readiness turned false (null: it never did). */
  notReadyAfterMs: number | null;
  /** Largest number of messages waiting in the namespace's consumers. */
  backlogPeak: number;
}

/** The outcome of one row. */
export interface RowResult {
  readonly row: string;
  readonly accepted: { receipts: number; supporterMessages: number; tenantEvents: number };
  readonly lost: number;
  readonly lostDetail: Record<string, number>;
  readonly duplicates: number;
  readonly duplicateDetail: Record<string, number>;
  readonly orderViolations: number;
  readonly ownedAgainMs: number | null;
  readonly readyAgainMs: number | null;
  readonly notReadyAfterMs: number | null;
  readonly backlogPeak: number;
  readonly catchUpMs: number;
  readonly refused: Record<string, number>;
  readonly notes: readonly string[];
}

const KINDS = ["receipt", "supporter"] as const;

/** The whole rig. */
export class ChaosRig {
  readonly ns = freshNamespace("ch");
  readonly topo: Topology = topology(this.ns);
  nats!: NatsCluster;
  pg!: PrivatePostgres;
  redis!: PrivateRedis;
  receiptSims!: ReceiptSims;
  supporterSims!: SupporterSims;
  hooks!: TerminalCollector;
  readonly nodes: RigNode[] = [];
  private h: NatsHandles | null = null;
  private pool: Pool | null = null;
  apiKey = "";
  clientId = "";
  receipts!: ReceiptLoad;
  supporterLoad!: SupporterLoad;
  eventLoad!: TenantEventLoad;
  private readonly bodies = RECEIPT_TYPES.flatMap((t) => [
    { body: t.examples.json, type: "application/json" },
    { body: t.examples.xml, type: "application/xml" },
  ]);

  constructor(readonly opts: RigOptions = DEFAULT_RIG) {}

  /** Starts every server, simulator and node, and creates the load's client. */
  async start(log: (line: string) => void = () => undefined): Promise<void> {
    [this.nats, this.pg, this.redis] = await Promise.all([
      NatsCluster.start(this.ns, 3, { isolatable: this.opts.partitionable === true }),
      PrivatePostgres.start(),
      PrivateRedis.start(),
    ]);
    log(`NATS cluster ${this.nats.url}, Postgres :${this.pg.port}, Redis :${this.redis.port}`);
    this.receiptSims = await startReceiptSims();
    this.supporterSims = await startSupporterSims();
    this.hooks = await new TerminalCollector().start();
    for (let i = 0; i < this.opts.nodes; i++)
      this.nodes.push({ id: `${this.ns}-n${i}`, port: await freePort(), child: null });
    // the first node provisions the namespace (streams at R3, migrations); then the others
    await this.startNode(0);
    await Promise.all(this.nodes.slice(1).map((_, i) => this.startNode(i + 1)));
    log(`${this.nodes.length} nodes ready`);
    this.h = await connectNats(this.nats.url, `chaos-${this.ns}`);
    this.pool = createPool(this.pg.url, this.ns, 2);
    const created = await createClient(
      {
        store: createClientStore({ pg: this.pool, keyring: createKeyring([DEV_MASTER_KEY]) }),
        namespace: this.ns,
        // the nodes run in dev mode, whose egress policy admits loopback webhook receivers
        egress: loadConfig({}).egress.policy,
      },
      {
        name: "chaos",
        scopes: ["receipts:write", "receipts:read", "supporters:write", "events:write", "admin"],
        webhookUrl: this.hooks.url,
        rateLimit: { perSec: 100_000, burst: 100_000 },
      },
    );
    this.apiKey = created.apiKey;
    this.clientId = created.client.id;
    const define = await call(`${this.gateways()[0]}/api/v1/admin/event-types/chaos.tick/versions`, this.apiKey, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ schema: { type: "object", required: ["n"], properties: { n: { type: "integer" } } } }),
    });
    if (define.status !== 201) throw new Error(`event type not registered: ${define.status} ${define.text}`);
    this.receipts = new ReceiptLoad(() => this.gateways(), this.apiKey, this.bodies);
    this.supporterLoad = new SupporterLoad(() => this.gateways(), this.apiKey);
    this.eventLoad = new TenantEventLoad(() => this.gateways(), this.apiKey, this.clientId);
  }

  /** The environment of node `i`. */
  private env(i: number): Record<string, string> {
    const n = this.nodes[i]!;
    return {
      NAMESPACE: this.ns,
      NODE_ID: n.id,
      NATS_URL: this.nats.url,
      DATABASE_URL: this.pg.url,
      REDIS_URL: this.redis.url,
      JS_REPLICAS: "3",
      PORT: String(n.port),
      HOST: "127.0.0.1",
      PUBLIC_URL: `http://127.0.0.1:${n.port}`,
      LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "warn",
      SERVICES: "runtime,gateway,receipts,supporters,tenant-events",
      ACTOR_PARTITIONS: String(this.opts.partitions),
      LEASE_TTL_MS: "3000",
      TAX_API_URL: this.receiptSims.tax.url,
      WAREHOUSE_API_URL: this.receiptSims.warehouse.url,
      RECEIPT_CALL_TIMEOUT_MS: "2000",
      RECEIPT_MAX_LAG_MS: "0",
      USER_SERVICE_URL: this.supporterSims.user.url,
      ERP_SERVICE_URL: this.supporterSims.erp.url,
      SUPPORTERS_CALL_TIMEOUT_MS: "2000",
      // A delivery job the cluster lost with all its replicas (seen on nats-server 2.9 when a
      // stream's replicas were reset in a leader change) is issued again, same idempotency key,
      // once past its deadline: a minute here (the downstream outage row lasts 90 s, and a job
      // re-issued during it is idempotent), a week by default.
      SUPPORTERS_JOB_DEADLINE_MS: "60000",
      SUPPORTERS_PUMP_LEASE_MS: "3000",
      EVENTS_PARTITIONS: "4",
      EVENTS_DISCOVER_MS: "500",
      GATEWAY_RATE_PER_SEC: "100000",
      GATEWAY_RATE_BURST: "100000",
    };
  }

  /**
   * Starts node `i` and waits until it is ready. On a busy machine a node that provisions every
   * stream at R3 can take longer than the 60 s a start is given: it is started again (the
   * provisioning it did is kept), up to three times.
   */
  async startNode(i: number): Promise<void> {
    const n = this.nodes[i]!;
    for (let attempt = 1; ; attempt++) {
      try {
        n.child = await startChild(this.env(i), `${this.ns}-${n.id}`);
        return;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
  }

  /** Stops node `i` with `signal` (SIGKILL: `kill -9`). */
  async stopNode(i: number, signal: NodeJS.Signals): Promise<void> {
    const n = this.nodes[i]!;
    await n.child?.stop(signal);
    n.child = null;
  }

  /** Gateways of the live nodes. */
  gateways(): string[] {
    return this.nodes.filter((n) => n.child !== null).map((n) => `http://127.0.0.1:${n.port}`);
  }

  /** Live node ids. */
  private live(): string[] {
    return this.nodes.filter((n) => n.child !== null).map((n) => n.id);
  }

  /** True when every partition of every kind is leased by a live node. */
  async allOwned(): Promise<boolean> {
    const kv = await this.h!.kvm.open(this.topo.leases.bucket);
    const live = new Set(this.live());
    for (const kind of KINDS) {
      for (let p = 0; p < this.opts.partitions; p++) {
        const e = await kv.get(this.topo.leases.partitionKey(kind, p));
        if (!e || e.operation !== "PUT") return false;
        if (!live.has(e.json<{ owner: string }>().owner)) return false;
      }
    }
    return true;
  }

  /** True when every live node answers /health/ready 200. */
  async allReady(): Promise<boolean> {
    const gws = this.gateways();
    if (gws.length === 0) return false;
    const answers = await Promise.all(
      gws.map((g) => fetch(`${g}/health/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined)),
    );
    return answers.every((a) => a?.status === 200);
  }

  /** Messages waiting in every consumer of the namespace (pending + ack pending). */
  async backlog(): Promise<number> {
    let total = 0;
    const prefix = this.ns.toUpperCase() + "_";
    for await (const s of this.h!.jsm.streams.list()) {
      if (!s.config.name.startsWith(prefix)) continue;
      for await (const c of this.h!.jsm.consumers.list(s.config.name)) {
        // right after a whole-cluster restart a consumer can report a wrapped-around count
        // (2^64 - n) until its state is rebuilt: not a backlog, skipped
        const n = c.num_pending + c.num_ack_pending;
        if (n < 1e12) total += n;
      }
    }
    return total;
  }

  /** Starts the steady mixed load. */
  startLoad(): void {
    this.receipts.start(this.opts.receiptRate);
    this.supporterLoad.start(this.opts.supporters);
    this.eventLoad.start(this.opts.eventRate);
  }

  /** Stops the load and waits for what is in flight (with its retries). */
  async stopLoad(): Promise<void> {
    await Promise.all([this.receipts.stop(), this.supporterLoad.stop(), this.eventLoad.stop()]);
  }

  /**
   * Samples ownership, readiness and backlog every 250 ms from `faultAt` until `stop()` is
   * called; returns the observation.
   */
  observe(faultAt: number): { stop(): Promise<Observation> } {
    const o: Observation = { ownedAgainMs: null, readyAgainMs: null, notReadyAfterMs: null, backlogPeak: 0 };
    let lostOwnership = false;
    let lostReady = false;
    let running = true;
    // three samplers of their own: listing every consumer for the backlog takes seconds on a
    // busy cluster and must not blur the ownership and readiness times
    const every = async (fn: () => Promise<void>): Promise<void> => {
      while (running) {
        await fn();
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const loop = Promise.all([
      every(async () => {
        const owned = await this.allOwned().catch(() => false);
        if (!owned) lostOwnership = true;
        else if (lostOwnership && o.ownedAgainMs === null) o.ownedAgainMs = Date.now() - faultAt;
      }),
      every(async () => {
        const ready = await this.allReady().catch(() => false);
        if (!ready) {
          if (!lostReady) o.notReadyAfterMs = Date.now() - faultAt;
          lostReady = true;
        } else if (lostReady && o.readyAgainMs === null) o.readyAgainMs = Date.now() - faultAt;
      }),
      every(async () => {
        o.backlogPeak = Math.max(o.backlogPeak, await this.backlog().catch(() => 0));
      }),
    ]);
    return {
      stop: async () => {
        running = false;
        await loop;
        if (!lostOwnership) o.ownedAgainMs = 0;
        if (!lostReady) o.readyAgainMs = 0;
        return o;
      },
    };
  }

  /**
   * Waits (up to `timeoutMs`) until everything accepted has finished: every receipt has its
   * terminal webhook, every supporter message reached both services, every tenant event is
   * stored. Returns how long it took.
   */
  async settle(timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    await waitFor(
      "the accepted load to finish",
      async () => (await this.unfinished()).total === 0,
      timeoutMs,
      500,
    ).catch(() => undefined);
    return Date.now() - t0;
  }

  /** What was accepted and has not finished, per domain. */
  async unfinished(): Promise<{ total: number; detail: Record<string, number> }> {
    const receipts = [...this.receipts.accepted.values()].filter((id) => !this.hooks.terminal.has(id)).length;
    const supporters = this.supporterLoad.missing(this.supporterSims);
    const stored = await this.storedEvents();
    const events = [...this.eventLoad.accepted].filter((id) => !stored.ids.has(id)).length;
    return {
      total: receipts + supporters + events,
      detail: { receipts, supporterMessages: supporters, tenantEvents: events },
    };
  }

  private async storedEvents(): Promise<{ ids: Set<string>; rows: number }> {
    const r = await this.pool!.query<{ event_id: string }>("SELECT event_id FROM events WHERE client_id = $1", [
      this.clientId,
    ]);
    return { ids: new Set(r.rows.map((x) => x.event_id)), rows: r.rows.length };
  }

  /** Consumers of the namespace that still hold messages (pending + ack pending), by stream/consumer. */
  async waiting(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const prefix = this.ns.toUpperCase() + "_";
    for await (const s of this.h!.jsm.streams.list()) {
      if (!s.config.name.startsWith(prefix)) continue;
      for await (const c of this.h!.jsm.consumers.list(s.config.name)) {
        const n = c.num_pending + c.num_ack_pending;
        if (n > 0 && n < 1e12) out[`${s.config.name}/${c.name}`] = n;
      }
    }
    return out;
  }

  /**
   * Work-queue streams that hold messages at or below a consumer's ack floor: messages that
   * consumer will never deliver (acked ones a work queue should have removed, or new ones given
   * sequences it had passed after the stream lost its tail). Only whole-stream consumers are
   * checked (a filtered one's floor says nothing of other subjects).
   */
  async belowAckFloor(): Promise<string[]> {
    const out: string[] = [];
    const prefix = this.ns.toUpperCase() + "_";
    for await (const s of this.h!.jsm.streams.list()) {
      if (!s.config.name.startsWith(prefix) || s.config.retention !== "workqueue" || s.state.messages === 0) continue;
      for await (const c of this.h!.jsm.consumers.list(s.config.name)) {
        if (c.config.filter_subject || s.state.first_seq > c.ack_floor.stream_seq) continue;
        out.push(
          `${s.config.name}: ${s.state.messages} stored from seq ${s.state.first_seq}, consumer ${c.name}'s ack floor ${c.ack_floor.stream_seq}, delivered ${c.delivered.stream_seq}, stream last ${s.state.last_seq}`,
        );
      }
    }
    return out;
  }

  /**
   * Where the supporters with undelivered messages stand (at most 5): each one's lanes as its
   * stored actor state has them, and whether the lane's job is still in the jobs stream.
   */
  async stuckSupporters(): Promise<string[]> {
    const out: string[] = [];
    const kv = await this.h!.kvm.open(this.topo.actors.stateBucket("supporter"));
    for (const [hash, ids] of [...this.supporterLoad.missingBySupporter(this.supporterSims)].slice(0, 5)) {
      const e = await kv.get(hash);
      if (!e || e.operation !== "PUT") {
        out.push(`supporter ${hash.slice(0, 12)}: ${ids.length} missing (first ${ids[0]}), no stored state`);
        continue;
      }
      const stored = e.json<{
        s: { queue: { id: string; user?: string; erp?: string }[]; lanes: Record<string, unknown>; jobSeq: number };
        q: number;
        t?: number;
      }>();
      const lanes: string[] = [];
      for (const step of ["user", "erp"]) {
        const lane = stored.s.lanes[step] as { job: string | null; since: number | null } | undefined;
        if (!lane?.job) {
          lanes.push(`${step} idle`);
          continue;
        }
        const job = step === "user" ? "supuser" : "superp";
        const last = await this.h!.jsm.streams.getMessage(this.topo.jobs.stream, {
          last_by_subj: this.topo.jobs.subject(job, hash),
        }).then(
          (m) => (m ? m.json<{ id: string }>().id : "none"),
          () => "none",
        );
        lanes.push(
          `${step} job ${lane.job} since ${lane.since ? Math.round((Date.now() - lane.since) / 1000) : "?"} s, last ${job} in the jobs stream: ${last}`,
        );
      }
      const head = stored.s.queue[0];
      out.push(
        `supporter ${hash.slice(0, 12)}: ${ids.length} missing (first ${ids[0]}); state rev ${e.revision} applied seq ${stored.q}, queue ${stored.s.queue.length} (head ${head?.id} user ${head?.user} erp ${head?.erp}), jobSeq ${stored.s.jobSeq}; ${lanes.join("; ")}`,
      );
    }
    return out;
  }

  /** Counts the row's outcome after `settle`. */
  async outcome(row: string, o: Observation, catchUpMs: number, notes: string[]): Promise<RowResult> {
    const un = await this.unfinished();
    if (un.total > 0) {
      // what the next engineer needs to find where it stuck
      const { user, erp } = this.supporterLoad.missingAt(this.supporterSims);
      if (user + erp > 0)
        notes.push(`supporter messages missing at the user service ${user}, at the ERP service ${erp}`);
      notes.push(`consumers still holding messages: ${JSON.stringify(await this.waiting().catch(() => ({})))}`);
      for (const line of await this.belowAckFloor().catch((err: unknown) => [`below ack floor: ${String(err)}`]))
        notes.push(`below an ack floor: ${line}`);
      for (const line of await this.stuckSupporters().catch((err: unknown) => [`stuck supporters: ${String(err)}`]))
        notes.push(line);
    }
    const tax = this.receiptSims.tax.book.summary();
    const wh = this.receiptSims.warehouse.book.summary();
    const nonAccepted = [...this.hooks.terminal.values()].filter((s) => s !== "ACCEPTED").length;
    const stored = await this.storedEvents();
    const duplicateDetail = {
      taxDoubleRegistrations: tax.doubleRegistrations,
      warehouseDoubleRegistrations: wh.doubleRegistrations,
      supporterDoubleDeliveries: this.supporterLoad.doubleDeliveries(this.supporterSims),
      tenantEventsStoredTwice: stored.rows - stored.ids.size,
    };
    if (nonAccepted > 0) notes.push(`${nonAccepted} receipts ended in a status other than ACCEPTED`);
    const order = this.supporterLoad.orderViolations(this.supporterSims);
    for (const p of order.slice(0, 5)) notes.push(`order: ${p}`);
    return {
      row,
      accepted: {
        receipts: this.receipts.accepted.size,
        supporterMessages: this.supporterLoad.acceptedCount(),
        tenantEvents: this.eventLoad.accepted.size,
      },
      lost: un.total,
      lostDetail: un.detail,
      duplicates: Object.values(duplicateDetail).reduce((a, b) => a + b, 0),
      duplicateDetail,
      orderViolations: order.length,
      ownedAgainMs: o.ownedAgainMs,
      readyAgainMs: o.readyAgainMs,
      notReadyAfterMs: o.notReadyAfterMs,
      backlogPeak: o.backlogPeak,
      catchUpMs,
      refused: {
        ...Object.fromEntries([...this.receipts.errors].map(([k, v]) => [`receipts ${k}`, v])),
        ...Object.fromEntries([...this.supporterLoad.errors].map(([k, v]) => [`supporters ${k}`, v])),
        ...Object.fromEntries([...this.eventLoad.errors].map(([k, v]) => [`events ${k}`, v])),
      },
      notes,
    };
  }

  /** Fresh loads and counters for the next row (the servers and nodes stay). */
  resetLoads(): void {
    this.receiptSims.tax.reset();
    this.receiptSims.warehouse.reset();
    this.supporterSims.user.reset();
    this.supporterSims.erp.reset();
    this.hooks.terminal.clear();
    this.receipts = new ReceiptLoad(() => this.gateways(), this.apiKey, this.bodies);
    this.supporterLoad = new SupporterLoad(() => this.gateways(), this.apiKey);
    this.eventLoad = new TenantEventLoad(() => this.gateways(), this.apiKey, this.clientId);
  }

  /** Removes everything. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((_, i) => this.stopNode(i, "SIGKILL").catch(() => undefined)));
    await this.h?.nc.close().catch(() => undefined);
    await this.pool?.end().catch(() => undefined);
    await Promise.all([
      this.receiptSims?.close(),
      this.supporterSims?.close(),
      this.hooks?.close(),
      this.nats?.close(),
      this.pg?.close(),
      this.redis?.close(),
    ]);
  }
}
