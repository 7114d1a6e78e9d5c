/**
 * The fault matrix: each row injects one fault into a running {@link ChaosRig} under its steady
 * load, heals it, and the runner counts the outcome. Durations scale with `scale` (1 = the full
 * matrix of `npm run chaos`; the suite runs two rows shortened).
 */
import type { ChaosRig, RowResult } from "./rig";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A note on how long a restarted server took to hold every replica current again. */
const caughtUp = (name: string, ms: number | null): string =>
  ms === null
    ? `${name}: some replicas not current 60 s after its restart`
    : `${name} current ${(ms / 1000).toFixed(1)} s after its restart`;

/** One row of the matrix. */
export interface FaultRow {
  readonly name: string;
  readonly what: string;
  /**
   * Set when the row cannot hold on the nats-server this machine has (2.9): why, and the
   * setting that makes it hold on 2.12. Its losses are reported, not failed.
   */
  readonly needs?: string;
  /** Injects the fault and heals it; returns notes for the table. */
  inject(rig: ChaosRig, scale: number): Promise<string[]>;
}

const setReceiptSims = (rig: ChaosRig, patch: { outage?: boolean; latencyMs?: { min: number; max: number } }): void => {
  rig.receiptSims.tax.setConfig(patch);
  rig.receiptSims.warehouse.setConfig(patch);
};
const setSupporterSims = (
  rig: ChaosRig,
  patch: { outage?: boolean; latencyMs?: { min: number; max: number } },
): void => {
  rig.supporterSims.user.setConfig(patch);
  rig.supporterSims.erp.setConfig(patch);
};

/** A server of the NATS cluster that is not the meta leader. */
async function follower(rig: ChaosRig): Promise<number> {
  const leader = await rig.nats.metaLeader();
  return rig.nats.servers.findIndex((s) => s.name !== leader);
}

export const ROWS: readonly FaultRow[] = [
  {
    name: "node-kill",
    what: "kill -9 of a Switchyard node, restarted 20 s later",
    async inject(rig, scale) {
      const victim = rig.nodes.length - 1;
      await rig.stopNode(victim, "SIGKILL");
      await sleep(20_000 * scale);
      await rig.startNode(victim);
      return [];
    },
  },
  {
    name: "rolling-restart",
    what: "SIGTERM rolling restart of every node, one at a time",
    async inject(rig) {
      for (let i = 0; i < rig.nodes.length; i++) {
        await rig.stopNode(i, "SIGTERM");
        await rig.startNode(i);
      }
      return [];
    },
  },
  {
    name: "nats-server-kill",
    what: "kill -9 of one NATS server (not the meta leader), restarted 20 s later",
    async inject(rig, scale) {
      const i = await follower(rig);
      await rig.nats.kill(i);
      await sleep(20_000 * scale);
      const name = rig.nats.servers[i]!.name;
      return [`killed ${name}`, caughtUp(name, await rig.nats.restart(i, { catchUpMs: 60_000 * scale }))];
    },
  },
  {
    name: "meta-leader-kill",
    what: "kill -9 of the JetStream meta leader, restarted 20 s later",
    needs:
      "nats-server 2.9.10 resets stream replicas after a meta-leader kill ('Error applying entries ... stream store EOF', 'Resetting stream cluster state', 52 times on the jobs stream in one run): acknowledged job and mailbox messages were lost, and the consumers of two partitions delivered each other's messages. Later releases reworked how a lagging replica takes over (2.9.21: 'sync and reset clfs when taking over'; the 2.10 to 2.12 raft fixes Jepsen's analysis tested); run the row on 2.12 with `sync_interval: always` to show it holds",
    async inject(rig, scale) {
      const leader = await rig.nats.metaLeader();
      const i = rig.nats.servers.findIndex((s) => s.name === leader);
      await rig.nats.kill(i);
      await sleep(20_000 * scale);
      const elected = (await rig.nats.metaLeader()) ?? "?";
      return [
        `killed meta leader ${leader ?? "?"}, new leader ${elected}`,
        caughtUp(leader ?? "?", await rig.nats.restart(i, { catchUpMs: 60_000 * scale })),
      ];
    },
  },
  {
    name: "nats-all-restart",
    what: "all three NATS servers stopped (SIGTERM) together, started again 5 s later",
    async inject(rig) {
      await Promise.all(rig.nats.servers.map((_, i) => rig.nats.kill(i, "SIGTERM")));
      await sleep(5_000);
      const ms = await Promise.all(rig.nats.servers.map((_, i) => rig.nats.restart(i)));
      return rig.nats.servers.map((s, i) => caughtUp(s.name, ms[i]!));
    },
  },
  {
    name: "nats-all-kill",
    what: "kill -9 of all three NATS servers at once, started again 5 s later",
    needs:
      "nats-server 2.9 acknowledges a write once a quorum holds it in memory and writes it to disk moments later, and has no sync_interval setting: a kill -9 of every replica at once (or a power loss) can lose the last acknowledged writes. nats-server 2.12 with `sync_interval: always` fsyncs each write before the ack (docker-compose.yml, deploy/nats/)",
    async inject(rig) {
      await Promise.all(rig.nats.servers.map((_, i) => rig.nats.kill(i, "SIGKILL")));
      await sleep(5_000);
      const ms = await Promise.all(rig.nats.servers.map((_, i) => rig.nats.restart(i)));
      return rig.nats.servers.map((s, i) => caughtUp(s.name, ms[i]!));
    },
  },
  {
    name: "nats-server-partition",
    what: "one NATS server cut off from the other two and from every client for 60 s (its network namespace's link down), then joined again",
    async inject(rig, scale) {
      const i = rig.nats.isolatable;
      if (i < 0) throw new Error("the rig's NATS cluster has no isolatable server (start it with partitionable)");
      const name = rig.nats.servers[i]!.name;
      const leader = await rig.nats.metaLeader();
      rig.nats.partition();
      try {
        await sleep(60_000 * scale);
      } finally {
        rig.nats.heal();
      }
      const ms = await rig.nats.current(i, 120_000 * scale);
      return [
        `cut off ${name}${leader === name ? " (the meta leader)" : ""}`,
        ms === null
          ? `${name}: some replicas not current 120 s after the partition healed`
          : `${name} current ${(ms / 1000).toFixed(1)} s after the partition healed`,
      ];
    },
  },
  {
    name: "postgres-stop",
    what: "Postgres stopped for 60 s",
    async inject(rig, scale) {
      await rig.pg.stopServer();
      await sleep(60_000 * scale);
      await rig.pg.startServer();
      return [];
    },
  },
  {
    name: "redis-stop",
    what: "Redis stopped for 30 s",
    async inject(rig, scale) {
      await rig.redis.stopServer();
      await sleep(30_000 * scale);
      await rig.redis.startServer();
      return [];
    },
  },
  {
    name: "downstreams-out-then-slow",
    what: "every downstream (tax, warehouse, user, ERP) out for 60 s, then slow (3-4 s answers, past the 2 s call timeout) for 30 s",
    async inject(rig, scale) {
      setReceiptSims(rig, { outage: true });
      setSupporterSims(rig, { outage: true });
      await sleep(60_000 * scale);
      setReceiptSims(rig, { outage: false, latencyMs: { min: 3000, max: 4000 } });
      setSupporterSims(rig, { outage: false, latencyMs: { min: 3000, max: 4000 } });
      await sleep(30_000 * scale);
      setReceiptSims(rig, { latencyMs: { min: 0, max: 0 } });
      setSupporterSims(rig, { latencyMs: { min: 0, max: 0 } });
      return [];
    },
  },
];

/** Runs `row` on `rig`: load for `warmMs`, the fault, load for `afterMs`, then drain and count. */
export async function runRow(
  rig: ChaosRig,
  row: FaultRow,
  opts: { scale: number; warmMs: number; afterMs: number; settleMs: number },
  log: (line: string) => void = () => undefined,
): Promise<RowResult> {
  rig.resetLoads();
  rig.startLoad();
  await sleep(opts.warmMs);
  const faultAt = Date.now();
  const obs = rig.observe(faultAt);
  log(`${row.name}: ${row.what}`);
  const notes = await row.inject(rig, opts.scale);
  await sleep(opts.afterMs);
  await rig.stopLoad();
  const catchUpMs = await rig.settle(opts.settleMs);
  const o = await obs.stop();
  return rig.outcome(row.name, o, catchUpMs, notes);
}
