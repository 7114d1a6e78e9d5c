/**
 * Partition leases in a KV bucket. Each node announces itself (`node.<id>`, renewed every
 * ttl/3) and holds one lease entry per partition it owns (`part.<kind>.<p>`, renewed with
 * revision-checked updates every `partitionRenewMs`, by default ttl/3 as well). A lease is free
 * when its owner's node entry has not changed for the ttl, or its own entry has not changed for
 * max(ttl, 3 x partitionRenewMs). Expiry is judged by each observer's own clock from when it last
 * saw an entry change, so clocks of different machines never need to agree.
 *
 * Liveness thus rides on one entry per node: a node holding hundreds of partitions renews them
 * rarely (the actor runtime: every 3 ttl) while a dead node's partitions still move after one
 * ttl. An owner whose node entry cannot be renewed for most of the ttl fences itself (stops every
 * partition), since the others will judge it dead at the ttl.
 *
 * Placement `"spread"` (partitions): every node computes the desired owner of every partition by
 * rendezvous hashing over the live nodes; a node takes what should be its own once it is free
 * (absent or expired) and hands over what should be another's (drain, then delete the lease so
 * the takeover is immediate). Placement `"sticky"` (singletons, a one-partition lease set): any
 * node takes a lease once it is free, and the owner keeps it until it stops or loses it.
 *
 * A stale owner cannot write: every renewal is an update at the revision it last wrote, and one
 * refused as a wrong last sequence (someone else wrote the lease) stops the partition at once.
 * In a bucket whose entries expire (a KV TTL), a dead owner's lease vanishes without a delete
 * marker; an update at its old revision is then refused, and the lease is created afresh.
 */
import { isWrongLastSequence, type KV, type QueuedIterator, type KvWatchEntry } from "../nats";
import type { Logger } from "../lib/logger";
import type { PartitionOwnership } from "./types";
import { desiredOwner } from "./assignment";
import { errorMessage } from "../lib/errors";

/** A partition this node may host. */
export interface PartitionRef {
  readonly kind: string;
  readonly partition: number;
}

/** What the lease manager asks of the partition workers. */
export interface LeaseCallbacks {
  /** The lease is ours: start consuming. Rejecting gives the lease back. */
  acquired(ref: PartitionRef): Promise<void>;
  /**
   * Stop consuming. `drain`: finish in-flight work first (hand-off, shutdown);
   * otherwise stop at once without acking (the lease was lost to another node).
   */
  released(ref: PartitionRef, drain: boolean): Promise<void>;
}

/** The keys of a lease bucket (the platform's scheme is `Topology["leases"]`). */
export interface LeaseKeys {
  /** The key of one partition's lease. */
  partitionKey(kind: string, partition: number): string;
  /** The key a node announces itself under; it must begin with `node.`. */
  nodeKey(nodeId: string): string;
}

/** How partitions are placed on nodes (see the module doc). */
export type LeasePlacement = "spread" | "sticky";

/** What a {@link LeaseManager} coordinates. */
export interface LeaseManagerOptions {
  readonly kv: KV;
  readonly keys: LeaseKeys;
  readonly nodeId: string;
  readonly refs: readonly PartitionRef[];
  /** A lease not renewed for this long (by the observer's clock) is free. */
  readonly ttlMs: number;
  readonly callbacks: LeaseCallbacks;
  readonly log: Logger;
  /** Default `"spread"`. */
  readonly placement?: LeasePlacement;
  /**
   * How often partition entries are rewritten (default ttl/3). Longer is cheaper; it must stay
   * under the bucket's entry TTL, if it has one.
   */
  readonly partitionRenewMs?: number;
}

interface Observed {
  readonly owner: string;
  readonly revision: number;
  /** Local time when this revision was first seen. */
  readonly seenAt: number;
}

interface Owned {
  revision: number;
  renewedAt: number;
}

/** Coordinates partition ownership for one node. */
export class LeaseManager {
  private readonly nodes = new Map<string, Observed>();
  private readonly leases = new Map<string, Observed>();
  private readonly owned = new Map<string, Owned>();
  private readonly busy = new Set<string>();
  /**
   * Leases lost while their `acquired` callback still ran: the acquire calls `released` once its
   * start returned, so that the two callbacks of one partition never overlap.
   */
  private readonly lostWhileStarting = new Set<string>();
  /** Leases whose `acquired` callback runs now. */
  private readonly starting = new Set<string>();
  /** Leases drained and about to be deleted: renewals leave them alone. */
  private readonly releasing = new Set<string>();
  /** The renewal round in flight (a delete waits for it, or it would race the revision). */
  private renewing: Promise<unknown> = Promise.resolve();
  /** True while a renewal round runs: the next one waits for it, never renews at the same revision. */
  private renewInFlight = false;
  private watcher: QueuedIterator<KvWatchEntry> | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private nodeRevision = 0;
  /** When this node's entry was last written. */
  private nodeRenewedAt = 0;
  /** When the watch began: a node never seen is judged from then. */
  private watchingSince = 0;
  private stopping = false;
  private started = false;

  private readonly kv: KV;
  private readonly keys: LeaseKeys;
  private readonly nodeId: string;
  private readonly refs: readonly PartitionRef[];
  private readonly ttlMs: number;
  private readonly renewEveryMs: number;
  private readonly partitionRenewMs: number;
  /** A partition entry unchanged this long is free whoever holds it. */
  private readonly silentMs: number;
  private readonly callbacks: LeaseCallbacks;
  private readonly log: Logger;
  private readonly sticky: boolean;

  constructor(o: LeaseManagerOptions) {
    this.kv = o.kv;
    this.keys = o.keys;
    this.nodeId = o.nodeId;
    this.refs = o.refs;
    this.ttlMs = o.ttlMs;
    this.renewEveryMs = Math.max(200, Math.round(o.ttlMs / 3));
    this.partitionRenewMs = Math.max(this.renewEveryMs, o.partitionRenewMs ?? this.renewEveryMs);
    this.silentMs = Math.max(o.ttlMs, this.partitionRenewMs === this.renewEveryMs ? 0 : 3 * this.partitionRenewMs);
    this.callbacks = o.callbacks;
    this.log = o.log;
    this.sticky = o.placement === "sticky";
  }

  /** Announces this node, starts watching leases and taking partitions. */
  async start(): Promise<void> {
    this.watchingSince = Date.now();
    this.watcher = await this.kv.watch({ key: ">" });
    void this.consumeWatch(this.watcher);
    await this.announce();
    this.started = true;
    this.tickTimer = setInterval(() => this.tick(), Math.max(100, Math.round(this.ttlMs / 10)));
    this.renewTimer = setInterval(() => void this.renewAll(), this.renewEveryMs);
    this.tick();
  }

  /** Drains and releases every owned partition, then withdraws this node. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    // acquisitions and hand-offs in flight finish first, so that what they took is released too
    while (this.busy.size > 0) await new Promise((r) => setTimeout(r, 10));
    await Promise.allSettled([...this.owned.keys()].map((key) => this.release(key, true)));
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.kv.delete(this.keys.nodeKey(this.nodeId)).catch(() => undefined);
    this.watcher?.stop();
  }

  /** Node ids seen alive within the ttl (always including this one while running). */
  liveNodes(now = Date.now()): string[] {
    const live = new Set<string>();
    for (const [id, o] of this.nodes) if (now - o.seenAt < this.ttlMs) live.add(id);
    if (this.started && !this.stopping) live.add(this.nodeId);
    else live.delete(this.nodeId);
    return [...live].sort();
  }

  /** Ownership of every partition as this node sees it. */
  ownership(now = Date.now()): PartitionOwnership[] {
    const live = this.liveNodes(now);
    return this.refs.map((ref) => {
      const key = this.key(ref);
      const lease = this.leases.get(key);
      const owner = this.owned.has(key) ? this.nodeId : lease && !this.expired(lease, now) ? lease.owner : null;
      // a sticky lease belongs where it is (any live node when free)
      const desired = this.sticky
        ? owner && live.includes(owner)
          ? owner
          : (live[0] ?? null)
        : (desiredOwner(ref.kind, ref.partition, live) ?? null);
      return { kind: ref.kind, partition: ref.partition, owner, desired };
    });
  }

  /** True when every partition has a live owner. */
  allOwned(): boolean {
    return this.started && this.ownership().every((o) => o.owner !== null);
  }

  /** Partitions owned by this node. */
  ownedCount(): number {
    return this.owned.size;
  }

  private key(ref: PartitionRef): string {
    return this.keys.partitionKey(ref.kind, ref.partition);
  }

  /** Whether lease `o` is free: its entry silent too long, or its owner's node entry silent for the ttl. */
  private expired(o: Observed, now: number): boolean {
    if (now - o.seenAt >= this.silentMs) return true;
    if (o.owner === this.nodeId) return false;
    const node = this.nodes.get(o.owner);
    // Not seen yet: the watch may still be replaying entries (partition entries are older than
    // node entries, so they come first), so a never-seen owner counts from when the watch began.
    return now - (node?.seenAt ?? this.watchingSince) >= this.ttlMs;
  }

  private async consumeWatch(it: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const e of it) {
        const map = e.key.startsWith("node.") ? this.nodes : this.leases;
        const id = e.key.startsWith("node.") ? e.key.slice(5) : e.key;
        if (e.operation !== "PUT") {
          map.delete(id);
          continue;
        }
        let owner: string;
        try {
          owner = e.json<{ owner: string }>().owner;
        } catch {
          continue;
        }
        const prev = map.get(id);
        if (!prev || prev.revision !== e.revision) map.set(id, { owner, revision: e.revision, seenAt: Date.now() });
        if (map === this.leases && owner !== this.nodeId && this.owned.has(id) && !this.busy.has(id)) {
          // Someone else wrote our lease: we lost it (e.g. after a long pause). Stop at once.
          this.log.warn({ lease: id, owner }, "lease taken over by another node");
          void this.lose(id);
        }
      }
    } catch (err) {
      if (!this.stopping) this.log.error({ err: errorMessage(err) }, "lease watch ended");
    }
  }

  private async announce(): Promise<void> {
    const key = this.keys.nodeKey(this.nodeId);
    this.nodeRevision = await this.kv.put(key, JSON.stringify({ owner: this.nodeId, at: Date.now() }));
    this.nodeRenewedAt = Date.now();
  }

  private tick(): void {
    if (this.stopping) return;
    const now = Date.now();
    const live = this.liveNodes(now);
    for (const ref of this.refs) {
      const key = this.key(ref);
      if (this.busy.has(key)) continue;
      if (this.owned.has(key)) {
        if (!this.sticky && desiredOwner(ref.kind, ref.partition, live) !== this.nodeId) void this.release(key, true);
        continue;
      }
      if (!this.sticky && desiredOwner(ref.kind, ref.partition, live) !== this.nodeId) continue;
      const lease = this.leases.get(key);
      if (!lease || lease.owner === this.nodeId || this.expired(lease, now)) void this.acquire(ref, key, lease);
    }
  }

  private async acquire(ref: PartitionRef, key: string, lease: Observed | undefined): Promise<void> {
    this.busy.add(key);
    try {
      const value = JSON.stringify({ owner: this.nodeId, at: Date.now() });
      let revision: number;
      try {
        revision = lease ? await this.kv.update(key, value, lease.revision) : await this.kv.create(key, value);
      } catch (err) {
        // Another node won the race, or our view is stale: the watch will tell. Except for an
        // entry the bucket's TTL removed (no marker reaches the watch): forget it, create next.
        if (lease && isWrongLastSequence(err)) {
          const entry = await this.kv.get(key).catch(() => undefined);
          if (entry === null && this.leases.get(key)?.revision === lease.revision) this.leases.delete(key);
        }
        return;
      }
      this.owned.set(key, { revision, renewedAt: Date.now() });
      this.leases.set(key, { owner: this.nodeId, revision, seenAt: Date.now() });
      this.starting.add(key);
      try {
        await this.callbacks.acquired(ref);
        this.log.debug({ kind: ref.kind, partition: ref.partition }, "partition acquired");
      } catch (err) {
        this.log.error(
          { kind: ref.kind, partition: ref.partition, err: errorMessage(err) },
          "partition start failed; giving the lease back",
        );
        this.starting.delete(key);
        this.lostWhileStarting.delete(key);
        this.owned.delete(key);
        await this.kv.delete(key, { previousSeq: revision }).catch(() => undefined);
        return;
      }
      this.starting.delete(key);
      if (this.lostWhileStarting.delete(key)) {
        // Lost (fenced) while it started: stop what the start began, now that it has returned.
        this.log.warn(
          { kind: ref.kind, partition: ref.partition },
          "lease lost while the partition started; stopping it",
        );
        await this.callbacks.released(ref, false);
      }
    } finally {
      this.busy.delete(key);
    }
  }

  private refOf(key: string): PartitionRef | undefined {
    return this.refs.find((r) => this.key(r) === key);
  }

  /** Hand-off or shutdown: drain, then delete the lease so the next owner starts at once. */
  private async release(key: string, drain: boolean): Promise<void> {
    const ref = this.refOf(key);
    const owned = this.owned.get(key);
    if (!ref || !owned || this.busy.has(key)) return;
    this.busy.add(key);
    try {
      await this.callbacks.released(ref, drain);
      // a renewal in flight would move the revision under the delete: let it land first
      this.releasing.add(key);
      await this.renewing;
      const current = this.owned.get(key);
      this.owned.delete(key);
      if (current) await this.kv.delete(key, { previousSeq: current.revision }).catch(() => undefined);
      this.log.debug({ kind: ref.kind, partition: ref.partition }, "partition released");
    } catch (err) {
      this.log.error({ kind: ref.kind, partition: ref.partition, err: errorMessage(err) }, "partition release failed");
    } finally {
      this.releasing.delete(key);
      this.busy.delete(key);
    }
  }

  /**
   * The lease is gone: stop without draining (another node is already consuming). While the
   * partition is being acquired (its start still runs), the acquire stops it once the start
   * returned; while it is being released, the release stops it. Either way the callbacks of one
   * partition never run at the same time: a stop racing a start would leave the start's consumer
   * running unowned, beside the next owner's (two consumers of one partition: messages of a key
   * handled out of order, the older ones then taken for duplicates of what was applied).
   */
  private async lose(key: string): Promise<void> {
    const ref = this.refOf(key);
    if (!ref || !this.owned.has(key)) return;
    this.owned.delete(key);
    if (this.starting.has(key)) {
      this.lostWhileStarting.add(key);
      return;
    }
    if (this.busy.has(key)) return; // a release is stopping it
    this.busy.add(key);
    try {
      await this.callbacks.released(ref, false);
    } finally {
      this.busy.delete(key);
    }
  }

  private async renewAll(): Promise<void> {
    if (this.stopping && this.owned.size === 0) return;
    // A slow server must not make two rounds update at the same revision (the second would be
    // refused as a wrong last sequence and read as a lost lease).
    if (this.renewInFlight) return;
    this.renewInFlight = true;
    try {
      await this.renewRound();
    } finally {
      this.renewInFlight = false;
    }
  }

  /**
   * After a renewal was refused as a wrong last sequence: the lease is still ours when its entry
   * names this node (an earlier write of ours landed although its answer was lost: a timeout, a
   * reconnect), and then its revision is adopted. Anything else means it was lost.
   */
  private async stillOurs(key: string, owned: Owned): Promise<boolean> {
    const e = await this.kv.get(key).catch(() => undefined);
    // a write of ours that landed moved the revision on; an older one is a stale read
    if (!e || e.operation !== "PUT" || e.revision <= owned.revision) return false;
    try {
      if (e.json<{ owner?: unknown }>().owner !== this.nodeId) return false;
    } catch {
      return false;
    }
    owned.revision = e.revision;
    owned.renewedAt = Date.now();
    return true;
  }

  private async renewRound(): Promise<void> {
    const now = Date.now();
    const ops: Promise<unknown>[] = [];
    if (!this.stopping) {
      if (this.owned.size > 0 && now - this.nodeRenewedAt > this.ttlMs * 0.8) {
        // Our node entry could not be renewed for most of the ttl: others will judge this node
        // dead and take its partitions. Fence ourselves first.
        this.log.warn({ node: this.nodeId }, "node lease renewal failing; stopping every partition");
        for (const key of [...this.owned.keys()]) if (!this.releasing.has(key)) void this.lose(key);
      }
      ops.push(
        this.kv
          .update(this.keys.nodeKey(this.nodeId), JSON.stringify({ owner: this.nodeId, at: now }), this.nodeRevision)
          .then((rev) => {
            this.nodeRevision = rev;
            this.nodeRenewedAt = Date.now();
          })
          .catch(() => this.announce().catch(() => undefined)),
      );
    }
    // Half a round early, so that an entry is never rewritten later than partitionRenewMs.
    const due = now - this.partitionRenewMs + this.renewEveryMs / 2;
    for (const [key, owned] of this.owned) {
      // being acquired or released: what that does decides, not a renewal racing it
      if (this.releasing.has(key) || this.busy.has(key) || owned.renewedAt > due) continue;
      ops.push(
        this.kv.update(key, JSON.stringify({ owner: this.nodeId, at: now }), owned.revision).then(
          (rev) => {
            owned.revision = rev;
            owned.renewedAt = Date.now();
          },
          async (err: unknown) => {
            if (isWrongLastSequence(err)) {
              if (await this.stillOurs(key, owned)) {
                this.log.info({ lease: key }, "lease renewal raced an earlier write of ours; revision adopted");
                return;
              }
              if (this.owned.get(key) !== owned) return;
              this.log.warn({ lease: key }, "lease lost (revision moved)");
              void this.lose(key);
            } else if (Date.now() - owned.renewedAt > this.silentMs * 0.8) {
              // Could not renew for most of the silence allowed: others will soon take it. Fence ourselves.
              this.log.warn({ lease: key, err: errorMessage(err) }, "lease renewal failing; stopping partition");
              void this.lose(key);
            }
          },
        ),
      );
    }
    const round = Promise.allSettled(ops);
    this.renewing = round;
    await round;
  }
}
