/**
 * The tracking engine of one node (I/O): owns partitions of devices by lease, hosts their device
 * actors in memory, keeps cell membership in KV, evaluates proximity and makes its events
 * durable. Every node keeps replicas of the registry, the cell membership and the pair states
 * (KV watches), so taking a partition over needs no reads: its devices and pairs are already
 * in memory, and a pair's events decided but not known to be published are published again
 * (deduplicated by their ids).
 *
 * Positions come in on core NATS (`{ns}.tracking.positions.<partition>`, subscribed by the
 * partition's owner only). An accepted officer position is applied locally and broadcast to
 * every node in batches (`{ns}.tracking.officers`), where it is checked against that node's
 * own civilians around it; an accepted civilian position is checked against the officers
 * around it. A pair's transition is written to KV (revision-checked) before its event is
 * published, and its outbox cleared after: a takeover after kill -9 neither misses nor doubles.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { KV, KvWatchEntry, NatsHandles, QueuedIterator, Subscription } from "../../nats";
import { Empty, headers as natsHeaders, isWrongLastSequence } from "../../nats";
import { LeaseManager, type PartitionRef } from "../../actors/leases";
import { encodeJson, decodeJson } from "../../actors/codec";
import { partitionOf } from "../../streams/subjects";
import type { Logger } from "../../lib/logger";
import { errorMessage } from "../../lib/errors";
import { ProximityDisks } from "./disks";
import { applyPosition, newDevice, type DeviceState, type Position, type Role } from "./device.actor";
import { isPosition, parseRegistration, type Registration } from "./model";
import {
  evaluatePair,
  goneFromPair,
  meets,
  newPair,
  type PairState,
  type Party,
  type ProximityEvent,
} from "./proximity";
import type { TrackingConfig } from "./config";
import { EVENT_DEDUPE_MS, type TrackingNames } from "./streams";
import { Limiter } from "./limiter";

/** What the engine needs. */
export interface EngineDeps {
  /** The node's connection: leases, pair states, events, the registry. */
  readonly nats: NatsHandles;
  /**
   * The bulk connection: positions in, officer broadcasts, cell membership (writes and the
   * replica's watch). On its own socket, so that the replies the node waits for (lease
   * renewals, pair writes, the history's acks) never queue behind megabytes of positions.
   */
  readonly intake: NatsHandles;
  readonly names: TrackingNames;
  readonly config: TrackingConfig;
  readonly nodeId: string;
  readonly logger: Logger;
  readonly metrics: Registry;
  /** Makes a `nearby` durable work (the notify job); resolves once it is stored. */
  notify(e: ProximityEvent): Promise<void>;
}

/** One membership entry of KV `{ns}_trk_cells` (the value of `<role>.<cell>.<device>`). */
interface CellValue {
  readonly u: string;
  readonly lat: number;
  readonly lng: number;
  readonly at: number;
  readonly sp: number;
}

interface PairRec {
  state: PairState;
  rev: number;
  chain: Promise<void>;
  key: string;
}

interface Broadcast {
  readonly from: string;
  readonly ups: readonly Party[];
  readonly gone: readonly string[];
}

/** Counters of the engine (also exported as Prometheus metrics). */
export interface EngineStats {
  received: number;
  accepted: number;
  dropped: number;
  cellWrites: number;
  nearby: number;
  faraway: number;
  persistFailures: number;
}

/** The header naming the node of an officer broadcast. */
const FROM_HEADER = "Sy-From";

const toParty = (d: DeviceState): Party => ({
  id: d.id,
  user: d.user,
  lat: d.lat,
  lng: d.lng,
  at: d.at,
  speed: d.speed,
  cell: d.cell ?? "",
});

/** The engine (see the module doc). */
export class TrackingEngine {
  readonly stats: EngineStats = {
    received: 0,
    accepted: 0,
    dropped: 0,
    cellWrites: 0,
    nearby: 0,
    faraway: 0,
    persistFailures: 0,
  };
  private readonly registry = new Map<string, Registration>();
  /** Replica of the cell membership: device -> where and what it was at its last cell change. */
  private readonly membership = new Map<string, { role: Role; cell: string; v: CellValue }>();
  /** Replica of the pair states by key. */
  private readonly pairReplica = new Map<string, { state: PairState; rev: number }>();
  /** Every officer this node knows of (all partitions), by cell and by id. */
  private readonly officersByCell = new Map<string, Map<string, Party>>();
  private readonly officers = new Map<string, Party>();
  /** Owned partitions and their devices. */
  private readonly owned = new Set<number>();
  private readonly devices = new Map<string, DeviceState>();
  private readonly civByCell = new Map<string, Set<string>>();
  /** Pairs of owned civilians: civilian -> officer -> pair. */
  private readonly pairs = new Map<string, Map<string, PairRec>>();
  /** Near pairs by officer: officer -> civilians (owned). */
  private readonly nearByOfficer = new Map<string, Set<string>>();
  private readonly subs = new Map<number, Subscription>();
  private anySub: Subscription | null = null;
  private officerSub: Subscription | null = null;
  private readonly watchers: QueuedIterator<KvWatchEntry>[] = [];
  private outUps: Party[] = [];
  private outGone: string[] = [];
  private readonly history = new Map<number, Position[]>();
  /** Pending membership writes per device (coalesced until the next flush). */
  private readonly cellWrites = new Map<string, { put: [string, CellValue] | null; dels: string[] }>();
  private timers: NodeJS.Timeout[] = [];
  private leases: LeaseManager | null = null;
  private pairsKv!: KV;
  private stopped = false;
  private readonly disks: ProximityDisks;
  /**
   * JetStream operations in flight: pair writes, and apart from them the events (with their
   * notify jobs) of pairs already written, so that a burst of meetings (every device of a city
   * seen at once after a start) publishes each event right after its write instead of behind
   * every other pair's write.
   */
  private readonly pairIo = new Limiter(256);
  private readonly eventIo = new Limiter(256);
  private readonly metrics: {
    positions: Counter;
    events: Counter;
    cellWrites: Counter;
    owned: Gauge;
    lag: Gauge;
    shed: Counter;
  };
  /** Position outcomes not yet added to the metric. */
  private readonly outcomes = new Map<string, number>();
  /** The intake's backlog as last measured, and when the PING under way was sent. */
  private lastLagMs = 0;
  private pingSince: number | null = null;

  constructor(private readonly d: EngineDeps) {
    const c = d.config;
    this.disks = new ProximityDisks(c.rules.radiusM, c.filters.res);
    const reg = [d.metrics];
    this.metrics = {
      positions: new Counter({
        name: "switchyard_tracking_positions_total",
        help: "Positions received by the device actors, by outcome (accepted, or why dropped)",
        labelNames: ["outcome"],
        registers: reg,
        // counted in a plain map per position (a labelled inc costs a label hash), added when read
        collect: () => {
          for (const [outcome, n] of this.outcomes) this.metrics.positions.inc({ outcome }, n);
          this.outcomes.clear();
        },
      }),
      events: new Counter({
        name: "switchyard_tracking_events_total",
        help: "Proximity events made durable, by type (nearby, faraway)",
        labelNames: ["type"],
        registers: reg,
      }),
      cellWrites: new Counter({
        name: "switchyard_tracking_cell_writes_total",
        help: "KV cell membership writes (puts and deletes)",
        registers: reg,
      }),
      owned: new Gauge({
        name: "switchyard_tracking_devices",
        help: "Device actors in memory on this node",
        registers: reg,
      }),
      shed: new Counter({
        name: "switchyard_tracking_shed_batches_total",
        help: "Position batches dropped unread while the node read its intake more than TRACKING_SHED_LAG_MS behind",
        registers: reg,
      }),
      lag: new Gauge({
        name: "switchyard_tracking_intake_lag_seconds",
        help: "How far behind this node reads its positions (a PING's round trip on the intake connection)",
        registers: reg,
      }),
    };
  }

  /** Opens the buckets, fills the replicas, then takes partitions. */
  async start(): Promise<void> {
    const { nats, intake, names } = this.d;
    const [registryKv, cellsKv, pairsKv, leaseKv] = await Promise.all([
      nats.kvm.open(names.registryBucket),
      intake.kvm.open(names.cellsBucket),
      nats.kvm.open(names.pairsBucket),
      nats.kvm.open(names.leaseBucket),
    ]);
    this.pairsKv = pairsKv;
    await Promise.all([
      this.replicate(registryKv, (e) => this.onRegistry(e)),
      this.replicate(cellsKv, (e) => this.onCell(e)),
      this.replicate(pairsKv, (e) => this.onPair(e)),
    ]);
    this.officerSub = intake.nc.subscribe(names.officers, {
      callback: (err, m) => {
        // a node hears its own broadcasts too: skipped before they are decoded
        if (!err && m.headers?.get(FROM_HEADER) !== this.d.nodeId) this.onBroadcast(m.data);
      },
    });
    this.anySub = intake.nc.subscribe(names.positionsAny, {
      queue: names.positionsQueue,
      callback: (err, m) => {
        if (!err) this.reroute(m.data);
      },
    });
    const flushMs = this.d.config.flushMs;
    this.timers.push(setInterval(() => this.flushBroadcast(), flushMs));
    this.timers.push(setInterval(() => this.flushCells(), 100));
    this.timers.push(setInterval(() => this.flushHistory(), 250));
    this.timers.push(setInterval(() => this.sweep(), 1000));
    const refs: PartitionRef[] = [];
    for (let p = 0; p < this.d.config.partitions; p++) refs.push({ kind: names.leaseKind, partition: p });
    this.leases = new LeaseManager({
      kv: leaseKv,
      keys: {
        partitionKey: (kind, p) => `part.${kind}.${p}`,
        nodeKey: (id) => `node.${id.replace(/[^A-Za-z0-9_=-]/g, "_")}`,
      },
      nodeId: this.d.nodeId,
      refs,
      ttlMs: this.d.config.leaseTtlMs,
      callbacks: {
        acquired: (ref) => this.acquire(ref.partition),
        released: (ref, drain) => this.release(ref.partition, drain),
      },
      log: this.d.logger.child({ part: "tracking-leases" }),
    });
    await this.leases.start();
  }

  /** Hands partitions over (drained), stops the loops and watches. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.leases?.stop();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.officerSub?.unsubscribe();
    this.anySub?.unsubscribe();
    for (const w of this.watchers) w.stop();
  }

  /** Partitions owned by this node. */
  ownedPartitions(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  /** True when every partition has a live owner (as this node sees the leases). */
  allOwned(): boolean {
    return this.leases?.allOwned() ?? false;
  }

  /** Device actors in memory. */
  deviceCount(): number {
    return this.devices.size;
  }

  /** The registration of a device (from the replica). */
  registration(id: string): Registration | undefined {
    return this.registry.get(id);
  }

  /** Records a registration this node just wrote (its watch brings it too, a moment later). */
  noteRegistration(id: string, r: Registration): void {
    this.registry.set(id, r);
  }

  /**
   * The civilian's view of its meetings under way (from the pair replica, so any node
   * answers): the cell of each officer near it, never the officer's position.
   */
  nearbyOf(civ: string): { cell: string; meetingSince: number }[] {
    const prefix = `${partitionOf(civ, this.d.config.partitions)}.${civ}.`;
    const out: { cell: string; meetingSince: number }[] = [];
    for (const [key, { state }] of this.pairReplica) {
      if (!key.startsWith(prefix) || !state.near || state.silent) continue;
      const o = this.officers.get(state.off);
      if (o) out.push({ cell: o.cell, meetingSince: state.notifiedAt });
    }
    return out;
  }

  // ---- replicas -----------------------------------------------------------------------------

  private async replicate(kv: KV, apply: (e: KvWatchEntry) => void): Promise<void> {
    const status = await kv.status();
    const w = await kv.watch({ key: ">" });
    this.watchers.push(w);
    let initial = status.values;
    let ready!: () => void;
    const done = new Promise<void>((r) => (ready = r));
    if (initial === 0) ready();
    void (async () => {
      try {
        for await (const e of w) {
          try {
            apply(e);
          } catch (err) {
            this.d.logger.warn({ key: e.key, err: errorMessage(err) }, "tracking replica entry skipped");
          }
          if (initial > 0 && (--initial === 0 || e.delta === 0)) ready();
        }
      } catch (err) {
        if (!this.stopped) this.d.logger.error({ err: errorMessage(err) }, "tracking replica watch failed");
      }
      ready();
    })();
    await done;
  }

  private onRegistry(e: KvWatchEntry): void {
    if (e.operation !== "PUT") {
      this.registry.delete(e.key);
      this.forget(e.key, "gone");
      return;
    }
    const r = parseRegistration(e.json<unknown>());
    if (!r) return;
    this.registry.set(e.key, r);
    if (r.paused) this.forget(e.key, "gone");
  }

  private onCell(e: KvWatchEntry): void {
    const [role, cell, device] = e.key.split(".");
    if (!device || !cell || (role !== "civilian" && role !== "officer")) return;
    if (e.operation === "PUT") {
      const v = e.json<CellValue>();
      this.membership.set(device, { role, cell, v });
      if (role === "officer" && !this.devices.has(device)) {
        const known = this.officers.get(device);
        if (!known || known.at <= v.at)
          this.applyOfficer({ id: device, user: v.u, lat: v.lat, lng: v.lng, at: v.at, speed: v.sp, cell });
      }
      return;
    }
    const m = this.membership.get(device);
    if (m && m.cell === cell) {
      this.membership.delete(device);
      if (role === "officer" && !this.devices.has(device)) this.officerGone(device);
    }
  }

  private onPair(e: KvWatchEntry): void {
    if (e.operation !== "PUT") {
      this.pairReplica.delete(e.key);
      return;
    }
    this.pairReplica.set(e.key, { state: e.json<PairState>(), rev: e.revision });
  }

  // ---- partitions ---------------------------------------------------------------------------

  private async acquire(p: number): Promise<void> {
    const now = Date.now();
    const parts = this.d.config.partitions;
    // the devices of p as the membership replica knows them (seen now: they have the silence
    // window to report again)
    for (const [id, m] of this.membership) {
      if (partitionOf(id, parts) !== p) continue;
      const reg = this.registry.get(id);
      if (!reg || reg.paused) continue;
      const dev: DeviceState = {
        ...newDevice(id, m.role, m.v.u, now),
        lat: m.v.lat,
        lng: m.v.lng,
        at: m.v.at,
        speed: m.v.sp,
        cell: m.cell,
      };
      this.devices.set(id, dev);
      if (m.role === "civilian") this.indexCiv(id, null, m.cell);
    }
    const pending: PairRec[] = [];
    const prefix = `${p}.`;
    for (const [key, { state, rev }] of this.pairReplica) {
      if (!key.startsWith(prefix)) continue;
      const rec: PairRec = { state, rev, chain: Promise.resolve(), key };
      this.pairMap(state.civ).set(state.off, rec);
      if (state.near) this.markNear(state.off, state.civ, true);
      // events a former owner decided and may not have published: published again (the events
      // stream drops a repeat within its duplicate window; older ones were published long ago,
      // since publishing follows the write at once)
      const fresh = state.outbox.filter((e) => now - e.at < EVENT_DEDUPE_MS);
      rec.state = { ...state, outbox: fresh };
      if (fresh.length > 0) pending.push(rec);
    }
    this.owned.add(p);
    for (const rec of pending) this.republish(rec);
    this.subs.set(
      p,
      this.d.intake.nc.subscribe(this.d.names.positions(p), {
        callback: (err, m) => {
          if (!err) this.onPositions(p, m.data);
        },
      }),
    );
    this.d.logger.debug({ partition: p, devices: this.devices.size }, "tracking partition acquired");
    return Promise.resolve();
  }

  private async release(p: number, drain: boolean): Promise<void> {
    this.subs.get(p)?.unsubscribe();
    this.subs.delete(p);
    this.owned.delete(p);
    const parts = this.d.config.partitions;
    const chains: Promise<void>[] = [];
    for (const [civ, map] of this.pairs) {
      if (partitionOf(civ, parts) !== p) continue;
      for (const rec of map.values()) {
        chains.push(rec.chain);
        if (rec.state.near) this.markNear(rec.state.off, civ, false);
      }
      this.pairs.delete(civ);
    }
    if (drain) {
      this.flushHistory();
      this.flushCells();
      await Promise.allSettled(chains);
    }
    for (const [id, dev] of this.devices) {
      if (partitionOf(id, parts) !== p) continue;
      this.devices.delete(id);
      if (dev.role === "civilian") this.indexCiv(id, dev.cell, null);
    }
  }

  // ---- intake -------------------------------------------------------------------------------

  private reroute(data: Uint8Array): void {
    let list: unknown;
    try {
      list = decodeJson(data);
    } catch {
      this.drop("invalid");
      return;
    }
    const items = Array.isArray(list) ? list : [list];
    const by = new Map<number, unknown[]>();
    for (const x of items) {
      const id = typeof x === "object" && x !== null && "deviceId" in x ? x.deviceId : undefined;
      if (typeof id !== "string") {
        this.drop("invalid");
        continue;
      }
      const p = partitionOf(id, this.d.config.partitions);
      let l = by.get(p);
      if (!l) by.set(p, (l = []));
      l.push(x);
    }
    for (const [p, l] of by) this.d.intake.nc.publish(this.d.names.positions(p), encodeJson(l));
  }

  private drop(outcome: string): void {
    this.stats.dropped++;
    this.count(outcome);
  }

  private count(outcome: string): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  private onPositions(p: number, data: Uint8Array): void {
    const shedLag = this.d.config.shedLagMs;
    const now = Date.now();
    if (shedLag > 0 && this.intakeLag(now) > shedLag) {
      // behind: positions are superseded seconds later, and reading on is what lets it catch up;
      // measured again at once, so that shedding stops soon after the backlog is gone
      this.metrics.shed.inc();
      this.pingIntake(now);
      return;
    }
    let list: unknown;
    try {
      list = decodeJson(data);
    } catch {
      this.drop("invalid");
      return;
    }
    const items = Array.isArray(list) ? list : [list];
    for (const x of items) {
      this.stats.received++;
      if (!isPosition(x, now)) {
        this.drop("invalid");
        continue;
      }
      if (partitionOf(x.deviceId, this.d.config.partitions) !== p) {
        this.drop("wrong_partition");
        continue;
      }
      this.onPosition(p, x, now);
    }
  }

  private onPosition(p: number, pos: Position, now: number): void {
    const reg = this.registry.get(pos.deviceId);
    if (!reg) return this.drop("unregistered");
    if (reg.paused) return this.drop("paused");
    const dev = this.devices.get(pos.deviceId) ?? newDevice(pos.deviceId, reg.role, reg.user, now);
    const out = applyPosition(dev, pos, now, this.d.config.filters);
    this.devices.set(dev.id, out.state);
    if (!out.accepted) return this.drop(out.reason);
    this.stats.accepted++;
    this.count("accepted");
    const s = out.state;
    let h = this.history.get(p);
    if (!h) this.history.set(p, (h = []));
    h.push(pos);
    if (out.previousCell !== s.cell && s.cell) {
      this.queueCell(s.id, s.role, out.previousCell, s.cell, {
        u: s.user,
        lat: s.lat,
        lng: s.lng,
        at: s.at,
        sp: s.speed,
      });
      if (s.role === "civilian") this.indexCiv(s.id, out.previousCell, s.cell);
    }
    const party = toParty(s);
    if (s.role === "officer") {
      this.outUps.push(party);
      this.applyOfficer(party);
    } else this.checkCivilian(party);
  }

  // ---- proximity ----------------------------------------------------------------------------

  private disk(p: Party): readonly string[] {
    return this.disks.diskFor(p.cell, p.lat, p.lng);
  }

  private indexCiv(id: string, from: string | null, to: string | null): void {
    if (from) {
      const s = this.civByCell.get(from);
      s?.delete(id);
      if (s && s.size === 0) this.civByCell.delete(from);
    }
    if (to) {
      let s = this.civByCell.get(to);
      if (!s) this.civByCell.set(to, (s = new Set()));
      s.add(id);
    }
  }

  /** Records an officer's latest position (any partition) and checks this node's civilians around it. */
  private applyOfficer(o: Party): void {
    const prev = this.officers.get(o.id);
    if (prev && prev.at > o.at) return;
    if (prev && prev.cell !== o.cell) {
      const m = this.officersByCell.get(prev.cell);
      m?.delete(o.id);
      if (m && m.size === 0) this.officersByCell.delete(prev.cell);
    }
    this.officers.set(o.id, o);
    let m = this.officersByCell.get(o.cell);
    if (!m) this.officersByCell.set(o.cell, (m = new Map()));
    m.set(o.id, o);
    if (this.owned.size === 0) return;
    const seen = new Set<string>();
    for (const cell of this.disk(o)) {
      const civs = this.civByCell.get(cell);
      if (!civs) continue;
      for (const civ of civs) {
        seen.add(civ);
        this.check(civ, o);
      }
    }
    for (const civ of this.nearByOfficer.get(o.id) ?? []) if (!seen.has(civ)) this.check(civ, o);
  }

  private officerGone(id: string): void {
    const o = this.officers.get(id);
    if (!o) return;
    this.officers.delete(id);
    const m = this.officersByCell.get(o.cell);
    m?.delete(id);
    if (m && m.size === 0) this.officersByCell.delete(o.cell);
    for (const civ of [...(this.nearByOfficer.get(id) ?? [])]) {
      const c = this.devices.get(civ);
      const rec = this.pairs.get(civ)?.get(id);
      if (c && rec) this.transition(rec, goneFromPair(rec.state, toParty(c), o, Date.now()));
    }
  }

  private checkCivilian(c: Party): void {
    const seen = new Set<string>();
    for (const cell of this.disk(c)) {
      const offs = this.officersByCell.get(cell);
      if (!offs) continue;
      for (const o of offs.values()) {
        seen.add(o.id);
        this.check(c.id, o);
      }
    }
    for (const [off, rec] of this.pairs.get(c.id) ?? []) {
      if (seen.has(off) || !rec.state.near) continue;
      const o = this.officers.get(off);
      if (o) this.check(c.id, o);
    }
  }

  private pairMap(civ: string): Map<string, PairRec> {
    let m = this.pairs.get(civ);
    if (!m) this.pairs.set(civ, (m = new Map()));
    return m;
  }

  private check(civ: string, o: Party): void {
    const dev = this.devices.get(civ);
    if (!dev || !dev.cell) return;
    let rec = this.pairs.get(civ)?.get(o.id);
    // most candidates never meet: no pair is made for them (and nothing allocated)
    if (!rec && !meets(dev, o, this.d.config.rules)) return;
    const c = toParty(dev);
    if (!rec) {
      const p = partitionOf(civ, this.d.config.partitions);
      const key = `${p}.${civ}.${o.id}`;
      const known = this.pairReplica.get(key);
      rec = {
        state: known?.state ?? newPair(civ, o.id, Date.now()),
        rev: known?.rev ?? 0,
        chain: Promise.resolve(),
        key,
      };
      this.pairMap(civ).set(o.id, rec);
    }
    this.transition(rec, evaluatePair(rec.state, c, o, Date.now(), this.d.config.rules));
  }

  private markNear(off: string, civ: string, near: boolean): void {
    let s = this.nearByOfficer.get(off);
    if (near) {
      if (!s) this.nearByOfficer.set(off, (s = new Set()));
      s.add(civ);
    } else if (s) {
      s.delete(civ);
      if (s.size === 0) this.nearByOfficer.delete(off);
    }
  }

  private transition(rec: PairRec, out: { pair: PairState; event?: ProximityEvent }): void {
    if (out.pair === rec.state) return;
    const wasNear = rec.state.near;
    rec.state = out.pair;
    if (wasNear !== out.pair.near) this.markNear(out.pair.off, out.pair.civ, out.pair.near);
    this.persist(rec);
  }

  /**
   * Writes the pair (revision-checked), then publishes its outbox, then clears the outbox
   * (one chain per pair, so writes of one pair never overtake each other).
   */
  private persist(rec: PairRec): void {
    rec.chain = rec.chain.then(async () => {
      if (this.stopped && !this.owned.has(partitionOf(rec.state.civ, this.d.config.partitions))) return;
      try {
        const snapshot = rec.state;
        rec.rev = await this.writePair(rec, snapshot);
        if (snapshot.outbox.length === 0) return;
        for (const e of snapshot.outbox) await this.publishEvent(e);
        // published: the next write of the pair leaves them out (until then a takeover publishes
        // them again, which the events stream's duplicate window absorbs)
        const sent = new Set(snapshot.outbox.map((e) => e.id));
        rec.state = { ...rec.state, outbox: rec.state.outbox.filter((e) => !sent.has(e.id)) };
      } catch (err) {
        this.stats.persistFailures++;
        if (isWrongLastSequence(err)) {
          // someone else wrote this pair (a newer owner, or our replica was behind): take what
          // is stored; an event it still holds is published again (deduplicated by its id)
          const e = await this.pairsKv.get(rec.key).catch(() => null);
          rec.state = e && e.operation === "PUT" ? e.json<PairState>() : rec.state;
          rec.rev = e?.revision ?? 0;
          if (rec.state.outbox.length > 0 && this.owned.has(partitionOf(rec.state.civ, this.d.config.partitions)))
            this.persist(rec);
          return;
        }
        this.d.logger.warn({ pair: rec.key, err: errorMessage(err) }, "pair state write failed; retrying");
        await new Promise((r) => setTimeout(r, 500));
        if (!this.stopped) this.persist(rec);
      }
    });
  }

  private republish(rec: PairRec): void {
    rec.chain = rec.chain.then(async () => {
      const out = rec.state.outbox;
      try {
        for (const e of out) await this.publishEvent(e);
        const sent = new Set(out.map((e) => e.id));
        rec.state = { ...rec.state, outbox: rec.state.outbox.filter((e) => !sent.has(e.id)) };
      } catch (err) {
        this.d.logger.warn({ pair: rec.key, err: errorMessage(err) }, "event publish failed; retrying");
        await new Promise((r) => setTimeout(r, 500));
        if (!this.stopped) this.republish(rec);
      }
    });
  }

  private async writePair(rec: PairRec, s: PairState): Promise<number> {
    const data = JSON.stringify(s);
    return this.pairIo.run(() =>
      rec.rev === 0 ? this.pairsKv.create(rec.key, data) : this.pairsKv.update(rec.key, data, rec.rev),
    );
  }

  private async publishEvent(e: ProximityEvent): Promise<void> {
    await this.eventIo.run(() =>
      this.d.nats.js.publish(this.d.names.event(e.type, e.civilian), encodeJson(e), { msgID: e.id }),
    );
    if (e.type === "nearby") {
      await this.eventIo.run(() => this.d.notify(e));
      this.stats.nearby++;
    } else this.stats.faraway++;
    this.metrics.events.inc({ type: e.type });
  }

  // ---- expiry, pausing ----------------------------------------------------------------------

  /** A device of this node is gone (silent, paused, unregistered): its pairs part, its cell is removed. */
  private forget(id: string, _why: "gone"): void {
    const dev = this.devices.get(id);
    if (!dev) return;
    this.devices.delete(id);
    if (dev.cell) this.queueCell(id, dev.role, dev.cell, null, null);
    const now = Date.now();
    if (dev.role === "civilian") {
      this.indexCiv(id, dev.cell, null);
      for (const [off, rec] of this.pairs.get(id) ?? []) {
        if (!rec.state.near) continue;
        const o = this.officers.get(off);
        const op: Party = o ?? { id: off, user: "", lat: 0, lng: 0, at: 0, speed: 0, cell: "" };
        this.transition(rec, goneFromPair(rec.state, toParty(dev), op, now));
      }
    } else {
      this.outGone.push(id);
      this.officerGone(id);
    }
  }

  /**
   * A device is silent once nothing came from it for the silence window plus the intake's lag:
   * when this node reads its positions late (a burst, a busy box), the devices are not silent,
   * the node is behind, and forgetting them would part every meeting and re-make every cell.
   */
  private sweep(): void {
    const now = Date.now();
    this.pingIntake(now);
    const lag = this.intakeLag(now);
    const grace = this.d.config.silenceMs + lag;
    for (const [id, dev] of this.devices) if (now - dev.seenAt > grace) this.forget(id, "gone");
    this.metrics.owned.set(this.devices.size);
    this.metrics.lag.set(lag / 1000);
  }

  /**
   * Measures how far behind the intake connection is read: the server answers a PING after
   * everything it already queued to this connection, so the round trip is the backlog's age.
   */
  private pingIntake(now: number): void {
    if (this.pingSince !== null || this.stopped) return;
    this.pingSince = now;
    this.d.intake.nc
      .flush()
      .then(
        () => {
          this.lastLagMs = Date.now() - now;
        },
        () => undefined,
      )
      .finally(() => {
        this.pingSince = null;
      });
  }

  private intakeLag(now: number): number {
    return Math.max(this.lastLagMs, this.pingSince === null ? 0 : now - this.pingSince);
  }

  // ---- outputs ------------------------------------------------------------------------------

  private flushBroadcast(): void {
    if (this.outUps.length === 0 && this.outGone.length === 0) return;
    const b: Broadcast = { from: this.d.nodeId, ups: this.outUps, gone: this.outGone };
    this.outUps = [];
    this.outGone = [];
    const h = natsHeaders();
    h.set(FROM_HEADER, this.d.nodeId);
    this.d.intake.nc.publish(this.d.names.officers, encodeJson(b), { headers: h });
  }

  private onBroadcast(data: Uint8Array): void {
    let b: Broadcast;
    try {
      b = decodeJson<Broadcast>(data);
    } catch {
      return;
    }
    if (b.from === this.d.nodeId) return;
    for (const o of b.ups) if (!this.devices.has(o.id)) this.applyOfficer(o);
    for (const id of b.gone) if (!this.devices.has(id)) this.officerGone(id);
  }

  private queueCell(id: string, role: Role, from: string | null, to: string | null, v: CellValue | null): void {
    let w = this.cellWrites.get(id);
    if (!w) this.cellWrites.set(id, (w = { put: null, dels: [] }));
    // a put not yet written is replaced: its key is never written, so it needs no delete
    if (w.put && from && w.put[0] === `${role}.${from}.${id}`) w.put = null;
    else if (from) w.dels.push(`${role}.${from}.${id}`);
    if (to && v) w.put = [`${role}.${to}.${id}`, v];
  }

  /**
   * Writes the pending membership changes as plain publishes to the bucket's subjects (the
   * stream stores them; no ack is awaited): one connection keeps them in order (the new cell
   * before the old one's delete), and a lost one is mended by the device's next cell change.
   * Acked writes would cost a round trip each, and a city's cell changes would queue behind them.
   */
  private flushCells(): void {
    const bucket = this.d.names.cellsBucket;
    let n = 0;
    for (const [, w] of this.cellWrites) {
      if (w.put) this.d.intake.nc.publish(`$KV.${bucket}.${w.put[0]}`, encodeJson(w.put[1]));
      for (const k of w.dels) {
        const h = natsHeaders();
        h.set("KV-Operation", "DEL");
        this.d.intake.nc.publish(`$KV.${bucket}.${k}`, Empty, { headers: h });
      }
      n += (w.put ? 1 : 0) + w.dels.length;
    }
    this.cellWrites.clear();
    this.stats.cellWrites += n;
    if (n > 0) this.metrics.cellWrites.inc(n);
  }

  private flushHistory(): void {
    for (const [p, list] of this.history) {
      if (list.length === 0) continue;
      this.history.set(p, []);
      for (let i = 0; i < list.length; i += 2000)
        this.d.nats.js
          .publish(this.d.names.history(p), encodeJson(list.slice(i, i + 2000)))
          .catch((err: unknown) =>
            this.d.logger.warn({ partition: p, err: errorMessage(err) }, "position history write failed"),
          );
    }
  }
}
