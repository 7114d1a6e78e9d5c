/**
 * The rewards domain's operations, over injected connections: open accounts, score and submit
 * transactions (to the sender's account actor, waiting for the outcome), settle pending
 * transfers, read balances and ledgers, check the ledger invariant, manage business rules, and
 * QR encounters. The Moleculer service (service.ts) and the NATS scoring entry call these.
 */
import { randomBytes } from "node:crypto";
import type { Gauge } from "prom-client";
import type { ActorRuntime } from "../../actors/types";
import { AppError, errorMessage } from "../../lib/errors";
import type { Logger } from "../../lib/logger";
import type { KV, NatsHandles } from "../../nats";
import type { Pool } from "../../db";
import type { Topology } from "../../streams/subjects";
import { account, type AccountState } from "./account.actor";
import type { RewardsConfig } from "./config";
import {
  ISSUANCE,
  TRANSIT,
  isRecord,
  movesPoints,
  PARTY_KINDS,
  type OpenAccountRequest,
  type PartyKind,
  type PlannedTx,
  type SignupBody,
  type TxOutcome,
  type TxRequest,
} from "./model";
import { issueQrToken, qrImage, verifyQrToken } from "./qr";
import { signup, type SignupState } from "./signup.actor";
import { createUserCatalogStore, type CatalogKind, type CatalogPoller } from "./catalog";
import { checkRule, parseRule, scoreTx, type Rule, type RuleBody } from "./rules";
import type { RewardStore, PostingRow, RuleVersionRow } from "./store";
import type { RewardNames } from "./streams";

/** A user as the directory knows it. */
export interface DirectoryEntry {
  readonly kind: PartyKind;
  readonly name?: string;
  readonly openedAt: string;
}

/** An account as read by clients. */
export interface AccountView {
  readonly id: string;
  readonly kind: PartyKind;
  readonly name?: string;
  /** The hot balance (KV): points available. */
  readonly balance: number;
  /** Points held by pending transfers this account sent. */
  readonly held: number;
  readonly pending: readonly { readonly tx: string; readonly to: string; readonly amount: number }[];
}

/** The invariant check's report. */
export interface CheckReport {
  readonly ok: boolean;
  /** True when no account message and no ledger record was waiting (the numbers are final). */
  readonly settled: boolean;
  readonly accounts: number;
  readonly mismatches: readonly { readonly account: string; readonly kv: number; readonly ledger: number }[];
  readonly unbalancedLegs: number;
  readonly postings: number;
  readonly transactions: number;
  readonly kvTotal: number;
  readonly ledgerTotal: number;
  readonly issuance: number;
  readonly transit: number;
  /** Points held by pending transfers (equals transit when settled). */
  readonly held: number;
  readonly waiting: { readonly mailbox: number; readonly ledger: number };
}

/** The users directory over KV, cached (a user's kind never changes). */
function directory(kv: KV) {
  const cache = new Map<string, DirectoryEntry>();
  const parse = (v: unknown): DirectoryEntry | undefined => {
    if (!isRecord(v)) return undefined;
    const kind = PARTY_KINDS.find((k) => k === v["kind"]);
    if (!kind || typeof v["openedAt"] !== "string") return undefined;
    return { kind, openedAt: v["openedAt"], ...(typeof v["name"] === "string" ? { name: v["name"] } : {}) };
  };
  return {
    async get(id: string): Promise<DirectoryEntry | undefined> {
      const hit = cache.get(id);
      if (hit) return hit;
      const e = await kv.get(id);
      if (!e || e.operation !== "PUT") return undefined;
      const d = parse(e.json<unknown>());
      if (d) {
        if (cache.size > 100_000) cache.clear();
        cache.set(id, d);
      }
      return d;
    },
    /** Creates the entry; false when the id exists already. */
    async create(id: string, d: DirectoryEntry): Promise<boolean> {
      try {
        await kv.create(id, JSON.stringify(d));
        if (cache.size > 100_000) cache.clear();
        cache.set(id, d);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** The rules in force on this node: every rule in KV, followed by a watch. */
export class RulesInForce {
  private readonly rules = new Map<string, Rule>();
  private stopWatch: (() => void) | null = null;
  /** Rule changes applied on this node. */
  applied = 0;
  constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {}

  private apply(key: string, op: string, value: unknown): void {
    if (op !== "PUT") {
      this.rules.delete(key);
    } else if (parseRule(value)) {
      // Checked again here: a rule that does not fit the schema never scores.
      const r = parseRule(value)!;
      const cur = this.rules.get(key);
      if (!cur || cur.version <= r.version) this.rules.set(key, r);
    } else {
      this.log.error({ key }, "rule entry that does not fit the rule schema ignored");
      return;
    }
    this.applied++;
  }

  /** Loads every rule, then follows changes (watch first, so nothing written meanwhile is missed). */
  async start(): Promise<void> {
    const w = await this.kv.watch({ key: ">" });
    this.stopWatch = () => w.stop();
    void (async () => {
      try {
        for await (const e of w)
          this.apply(e.key, e.operation, e.operation === "PUT" ? safeJson(e.string()) : undefined);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, "rules watch ended");
      }
    })();
  }

  stop(): void {
    this.stopWatch?.();
  }

  /** The rules in force, by id. */
  list(): Rule[] {
    return [...this.rules.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  get(id: string): Rule | undefined {
    return this.rules.get(id);
  }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** What the rewards API needs. */
export interface RewardsApiDeps {
  readonly nats: NatsHandles;
  readonly runtime: ActorRuntime;
  readonly topology: Topology;
  readonly names: RewardNames;
  readonly store: RewardStore;
  readonly pg: Pool;
  readonly config: RewardsConfig;
  readonly logger: Logger;
  /** This node's id: outcomes of its submissions come to `names.outcomeSubject(nodeId)`. */
  readonly nodeId: string;
  readonly gauges: { readonly mismatches: Gauge; readonly unbalanced: Gauge };
  /** This node's catalog poller (worker nodes), for operators' "poll now". */
  readonly poller: () => CatalogPoller | null;
}

/** Creates the API; `start` opens its buckets and the rules watch. */
export async function createRewardsApi(d: RewardsApiDeps) {
  const { runtime, names, store, config, logger } = d;
  const dir = directory(await d.nats.kvm.open(names.dirBucket));
  const rulesKv = await d.nats.kvm.open(names.rulesBucket);
  const qrKv = await d.nats.kvm.open(names.qrBucket);
  const rules = new RulesInForce(rulesKv, logger.child({ part: "rules" }));
  await rules.start();
  const accounts = account.on(runtime);
  const signups = signup.on(runtime);
  const catalogs = createUserCatalogStore({ pg: d.pg });
  const waiters = new Map<string, ((o: TxOutcome) => void)[]>();
  // Outcomes of this node's submissions come here only (core NATS), not to every node.
  const notify = names.outcomeSubject(d.nodeId);
  const outcomes = d.nats.nc.subscribe(notify, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const o = msg.json<unknown>();
        if (isRecord(o) && typeof o["id"] === "string") deliver(o as unknown as TxOutcome);
      } catch (e) {
        logger.warn({ err: errorMessage(e) }, "undecodable outcome ignored");
      }
    },
  });

  /** Resolves the requests waiting for `outcome` on this node (called for every broadcast outcome). */
  function deliver(outcome: TxOutcome): void {
    const list = waiters.get(outcome.id);
    if (!list) return;
    waiters.delete(outcome.id);
    for (const f of list) f(outcome);
  }

  function waitFor(
    id: string,
    ms: number,
    match: (o: TxOutcome) => boolean,
  ): { promise: Promise<TxOutcome | null>; cancel(): void } {
    let timer: NodeJS.Timeout | undefined;
    let fn: ((o: TxOutcome) => void) | undefined;
    const promise = new Promise<TxOutcome | null>((resolve) => {
      fn = (o) => {
        if (!match(o)) {
          // not the answer we wait for (another settlement of the same id): keep waiting
          const l = waiters.get(id) ?? [];
          l.push(fn!);
          waiters.set(id, l);
          return;
        }
        clearTimeout(timer);
        resolve(o);
      };
      const l = waiters.get(id) ?? [];
      l.push(fn);
      waiters.set(id, l);
      timer = setTimeout(() => {
        const cur = waiters.get(id)?.filter((f) => f !== fn) ?? [];
        if (cur.length > 0) waiters.set(id, cur);
        else waiters.delete(id);
        resolve(null);
      }, ms);
    });
    return {
      promise,
      cancel: () => {
        clearTimeout(timer);
        const cur = waiters.get(id)?.filter((f) => f !== fn) ?? [];
        if (cur.length > 0) waiters.set(id, cur);
        else waiters.delete(id);
      },
    };
  }

  async function party(id: string, role: string): Promise<DirectoryEntry> {
    const e = await dir.get(id);
    if (!e) throw new AppError("NOT_FOUND", `${role} ${id} has no account`);
    return e;
  }

  /** The plan of `req` under the rules in force (422 when it does not fit its kind). */
  async function plan(req: TxRequest, at: number): Promise<PlannedTx> {
    if (movesPoints(req.kind) && req.amount === undefined)
      throw new AppError("VALIDATION_ERROR", `a ${req.kind} needs an amount`, [
        { path: "/amount", message: "required" },
      ]);
    if (!movesPoints(req.kind) && req.amount !== undefined)
      throw new AppError("VALIDATION_ERROR", "an encounter moves no points", [
        { path: "/amount", message: "not allowed" },
      ]);
    if (req.from === req.to)
      throw new AppError("VALIDATION_ERROR", "a transaction needs two parties", [
        { path: "/to", message: "same as from" },
      ]);
    const [from, to] = await Promise.all([party(req.from, "from"), party(req.to, "to")]);
    const amount = req.amount ?? 0;
    const awards = scoreTx(rules.list(), { kind: req.kind, fromKind: from.kind, toKind: to.kind, amount, at });
    return {
      id: req.id,
      kind: req.kind,
      from: req.from,
      to: req.to,
      fromKind: from.kind,
      toKind: to.kind,
      amount,
      awards,
      at,
      ...(req.memo !== undefined ? { memo: req.memo } : {}),
    };
  }

  /** The outcome `id` recorded in `user`'s account, if it is still remembered there. */
  async function recorded(user: string, id: string): Promise<TxOutcome | undefined> {
    const s = await accounts.state(user);
    return s?.recent[id];
  }

  /**
   * The outcome `id` once `user`'s account recorded it (read every 50 ms, up to `waitMs`), or
   * undefined when `answered` settles first (this node's own copy answered) or the time runs out.
   */
  async function pollRecorded(
    user: string,
    id: string,
    waitMs: number,
    answered: Promise<unknown>,
    match: (o: TxOutcome) => boolean = () => true,
  ): Promise<TxOutcome | undefined> {
    let done = false;
    void answered.then(() => (done = true));
    const deadline = Date.now() + waitMs;
    for (;;) {
      const r = await recorded(user, id);
      const seen = r && match(r) ? r : undefined;
      if (seen || done || Date.now() >= deadline) return seen;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return {
    rules,
    deliver,

    /** Stops the rules watch and the outcome subscription. */
    stop(): void {
      rules.stop();
      outcomes.unsubscribe();
    },

    /** Starts the signup (idempotent by id); answers its id and status. */
    async signup(body: SignupBody): Promise<{ id: string; userId: string; status: string }> {
      const id = body.id ?? `s${randomBytes(9).toString("base64url").replace(/[-_]/g, "x")}`;
      const userId = `u-${id}`;
      await signups.send(
        id,
        {
          op: "start",
          userId,
          request: { kind: body.kind, name: body.name, email: body.email, document: body.document },
        },
        { id: `signup:${id}` },
      );
      const s = await signups.state(id);
      return { id, userId, status: s?.status === undefined || s.status === "new" ? "validating" : s.status };
    },

    async signupStatus(id: string): Promise<SignupState & { id: string }> {
      const s = await signups.state(id);
      if (!s || s.status === "new") throw new AppError("NOT_FOUND", `signup ${id} not found`);
      return { id, ...s };
    },

    /** Operators: resumes a failed signup at its failed step (409 unless it failed). */
    async retrySignup(id: string): Promise<{ id: string; status: string }> {
      const s = await signups.state(id);
      if (!s || s.status === "new") throw new AppError("NOT_FOUND", `signup ${id} not found`);
      if (s.status !== "failed") throw new AppError("CONFLICT", `signup ${id} is ${s.status}, not failed`);
      await signups.send(id, { op: "retry" }, { id: `retry:${id}:${s.tries}` });
      return { id, status: "retrying" };
    },

    async catalog(kind: CatalogKind, limit: number, after?: string) {
      const items = await catalogs.list(kind, limit, after);
      return { items, next: items.length === limit ? (items[items.length - 1]?.id ?? null) : null };
    },

    async catalogEntry(kind: CatalogKind, id: string) {
      const e = await catalogs.find(kind, id);
      if (!e) throw new AppError("NOT_FOUND", `no ${kind} ${id} in the user catalogs`);
      return e;
    },

    /** Polls the providers now on this node if it holds the poller's lease. */
    async pollCatalogs(): Promise<{ polled: boolean; changes: number }> {
      const p = d.poller();
      if (!p?.holding()) return { polled: false, changes: 0 };
      return { polled: true, changes: await p.pollNow() };
    },

    /** Opens an account (409 when the id exists with another kind; the same kind again is a no-op). */
    async open(req: OpenAccountRequest): Promise<{ id: string; kind: PartyKind; created: boolean }> {
      const entry: DirectoryEntry = {
        kind: req.kind,
        openedAt: new Date().toISOString(),
        ...(req.name ? { name: req.name } : {}),
      };
      const created = await dir.create(req.id, entry);
      const cur = created ? entry : await dir.get(req.id);
      if (!cur) throw new AppError("UNAVAILABLE", "users directory unreadable");
      if (cur.kind !== req.kind) throw new AppError("CONFLICT", `account ${req.id} exists as a ${cur.kind}`);
      await accounts.send(
        req.id,
        { op: "open", kind: req.kind, ...(req.name ? { name: req.name } : {}) },
        { id: `open:${req.id}` },
      );
      // accounts opened by operators are users too: announced like onboarded ones (once per id)
      await d.nats.js.publish(
        names.usersCreatedSubject,
        JSON.stringify({ userId: req.id, kind: req.kind, ...(req.name ? { name: req.name } : {}), at: cur.openedAt }),
        { msgID: `users.created:${req.id}` },
      );
      return { id: req.id, kind: cur.kind, created };
    },

    /**
     * Scores `req` and puts it in the sender's mailbox (the transaction id is the message id),
     * then waits up to `waitMs` for its outcome: posted, pending or refused (a resend answers
     * the first outcome with `duplicate`). Null when the wait ran out (still under way).
     */
    async submit(req: TxRequest, waitMs = config.waitMs): Promise<{ outcome: TxOutcome | null; id: string }> {
      const p = { ...(await plan(req, Date.now())), notify };
      const w = waitFor(p.id, waitMs, () => true);
      try {
        const sent = await accounts.send(p.from, { op: "tx", tx: p }, { id: `tx:${p.id}` });
        if (sent.duplicate) {
          // Stored before (the mailbox dropped this copy): its outcome is, or soon will be, in the
          // sender's state, and it is answered to the node that sent the first copy.
          const seen = await pollRecorded(p.from, p.id, waitMs, w.promise);
          if (seen) {
            w.cancel();
            return { id: p.id, outcome: { ...seen, duplicate: true } };
          }
        }
        const o = await w.promise;
        return { id: p.id, outcome: o ? (sent.duplicate ? { ...o, duplicate: true } : o) : null };
      } catch (err) {
        w.cancel();
        throw err;
      }
    },

    /** Posts or voids the pending transfer `id` sent by `from`. */
    async settle(from: string, id: string, action: "post" | "void", waitMs = config.waitMs) {
      await party(from, "from");
      const want = action === "post" ? "posted" : "voided";
      const w = waitFor(id, waitMs, (o) => o.status === want || o.status === "refused" || o.duplicate === true);
      try {
        const sent = await accounts.send(
          from,
          { op: "settle", tx: id, action, at: Date.now(), notify },
          { id: `settle:${id}:${action}` },
        );
        if (sent.duplicate) {
          // the first copy's outcome went to the node that sent it: read it from the state
          const seen = await pollRecorded(from, id, waitMs, w.promise, (o) => o.status === want);
          if (seen) {
            w.cancel();
            return { id, outcome: { ...seen, duplicate: true } };
          }
        }
        return { id, outcome: await w.promise };
      } catch (err) {
        w.cancel();
        throw err;
      }
    },

    /** The kind of user `id` (from the directory), or undefined when it has no account. */
    async kindOf(id: string): Promise<PartyKind | undefined> {
      return (await dir.get(id))?.kind;
    },

    /** The outcome of `id` as the sender's account remembers it. */
    async outcome(from: string, id: string): Promise<TxOutcome> {
      const o = await recorded(from, id);
      if (!o) throw new AppError("NOT_FOUND", `transaction ${id} not found for ${from}`);
      return o;
    },

    async account(id: string): Promise<AccountView> {
      const e = await party(id, "account");
      const s: AccountState | undefined = await accounts.state(id);
      return {
        id,
        kind: e.kind,
        ...(e.name !== undefined ? { name: e.name } : {}),
        balance: s?.balance ?? 0,
        held: s?.held ?? 0,
        pending: Object.entries(s?.pending ?? {}).map(([tx, p]) => ({ tx, to: p.to, amount: p.amount })),
      };
    },

    /** The account's postings, newest first; `before` is the keyset cursor (a posting id). */
    async ledger(
      id: string,
      opts: { limit: number; before?: number },
    ): Promise<{ items: PostingRow[]; next: number | null; sum: number }> {
      await party(id, "account");
      const items = await store.postings(id, opts);
      return {
        items,
        next: items.length === opts.limit ? (items[items.length - 1]?.id ?? null) : null,
        sum: await store.ledgerSum(id),
      };
    },

    /** The invariant: every account's KV balance equals its ledger sum; every leg balances. */
    async check(): Promise<CheckReport> {
      const stateKv = await d.nats.kvm.open(d.topology.actors.stateBucket(account.name));
      // waiting for the ledger: receivers' legs in their work queue, senders' legs on the
      // transactions stream not yet acked by the writer's consumer there
      const [mailbox, ledgerInfo] = await Promise.all([
        d.nats.jsm.streams.info(d.topology.actors.stream(account.name)).then((i) => i.state.messages),
        Promise.all([
          d.nats.jsm.streams.info(names.ledgerStream).then((i) => i.state.messages),
          d.nats.jsm.consumers
            .info(names.txStream, names.txLedgerConsumer)
            .then((c) => c.num_pending + c.num_ack_pending),
        ]).then(([a, b]) => a + b),
      ]);
      const keys: string[] = [];
      for await (const k of await stateKv.keys()) keys.push(k);
      const balances = new Map<string, { balance: number; held: number }>();
      for (let i = 0; i < keys.length; i += 200) {
        await Promise.all(
          keys.slice(i, i + 200).map(async (k) => {
            const s = await accounts.state(k);
            if (s) balances.set(k, { balance: s.balance, held: s.held });
          }),
        );
      }
      const sums = await store.sums();
      const mismatches: { account: string; kv: number; ledger: number }[] = [];
      let kvTotal = 0;
      let held = 0;
      for (const [k, b] of balances) {
        kvTotal += b.balance;
        held += b.held;
        const l = sums.sums.get(k) ?? 0;
        if (l !== b.balance) mismatches.push({ account: k, kv: b.balance, ledger: l });
      }
      for (const [k, l] of sums.sums)
        if (!k.startsWith("@") && !balances.has(k)) mismatches.push({ account: k, kv: 0, ledger: l });
      let ledgerTotal = 0;
      for (const [k, l] of sums.sums) if (!k.startsWith("@")) ledgerTotal += l;
      const transit = sums.sums.get(TRANSIT) ?? 0;
      const settled = mailbox === 0 && ledgerInfo === 0;
      const report: CheckReport = {
        ok: settled && mismatches.length === 0 && sums.unbalanced === 0 && transit === held,
        settled,
        accounts: balances.size,
        mismatches: mismatches.slice(0, 100),
        unbalancedLegs: sums.unbalanced,
        postings: sums.postings,
        transactions: sums.transactions,
        kvTotal,
        ledgerTotal,
        issuance: sums.sums.get(ISSUANCE) ?? 0,
        transit,
        held,
        waiting: { mailbox, ledger: ledgerInfo },
      };
      if (settled) {
        d.gauges.mismatches.set(mismatches.length + (transit === held ? 0 : 1));
        d.gauges.unbalanced.set(sums.unbalanced);
      }
      return report;
    },

    /** Creates a rule (version 1). */
    async createRule(body: RuleBody, by: string): Promise<Rule> {
      const problems = checkRule(body);
      if (problems.length > 0) throw new AppError("VALIDATION_ERROR", "invalid rule", problems);
      const rule: Rule = {
        ...body,
        id: `r-${randomBytes(6).toString("hex")}`,
        version: 1,
        updatedAt: new Date().toISOString(),
        updatedBy: by,
      };
      await store.addRuleVersion({ id: rule.id, version: 1, body: rule, deleted: false, by });
      await rulesKv.create(rule.id, JSON.stringify(rule));
      return rule;
    },

    /** Replaces rule `id` with a new version (revision-checked: concurrent edits never lose one). */
    async updateRule(id: string, body: RuleBody, by: string): Promise<Rule> {
      const problems = checkRule(body);
      if (problems.length > 0) throw new AppError("VALIDATION_ERROR", "invalid rule", problems);
      const e = await rulesKv.get(id);
      if (!e || e.operation !== "PUT") throw new AppError("NOT_FOUND", `rule ${id} not found`);
      const cur = safeJson(e.string());
      const version = (isRecord(cur) && typeof cur["version"] === "number" ? cur["version"] : 0) + 1;
      const rule: Rule = { ...body, id, version, updatedAt: new Date().toISOString(), updatedBy: by };
      await store.addRuleVersion({ id, version, body: rule, deleted: false, by });
      try {
        await rulesKv.update(id, JSON.stringify(rule), e.revision);
      } catch {
        throw new AppError("CONFLICT", `rule ${id} changed meanwhile; read it and try again`);
      }
      return rule;
    },

    async deleteRule(id: string, by: string): Promise<{ id: string; version: number; deleted: true }> {
      const e = await rulesKv.get(id);
      if (!e || e.operation !== "PUT") throw new AppError("NOT_FOUND", `rule ${id} not found`);
      const cur = safeJson(e.string());
      const version = (isRecord(cur) && typeof cur["version"] === "number" ? cur["version"] : 0) + 1;
      await store.addRuleVersion({ id, version, body: null, deleted: true, by });
      await rulesKv.delete(id, { previousSeq: e.revision });
      return { id, version, deleted: true };
    },

    rule(id: string): Rule {
      const r = rules.get(id);
      if (!r) throw new AppError("NOT_FOUND", `rule ${id} not found`);
      return r;
    },

    async ruleVersions(id: string): Promise<RuleVersionRow[]> {
      const v = await store.ruleVersions(id);
      if (v.length === 0) throw new AppError("NOT_FOUND", `rule ${id} not found`);
      return v;
    },

    /** A QR token and image for `user` (who shows it to the other party). */
    async issueQr(user: string) {
      const e = await party(user, "user");
      if (e.kind !== "civilian" && e.kind !== "officer")
        throw new AppError("VALIDATION_ERROR", "only civilians and officers meet", [
          { path: "/user", message: `is a ${e.kind}` },
        ]);
      const { token, claims } = issueQrToken(config.qrSecret, user, e.kind, Date.now(), config.qrTtlMs);
      return {
        token,
        user,
        kind: e.kind,
        expiresAt: new Date(claims.expiresAt).toISOString(),
        ...(await qrImage(token)),
      };
    },

    /**
     * Redeems a QR token shown by another user: an encounter between the civilian and the
     * officer of the pair (id `qr-<nonce>`). Expired, forged, replayed and self tokens are refused.
     */
    async redeemQr(token: string, user: string) {
      const c = verifyQrToken(config.qrSecret, token, Date.now());
      if (c === "EXPIRED")
        throw new AppError("VALIDATION_ERROR", "QR token expired", [{ path: "/token", message: "expired" }]);
      if (c === "MALFORMED" || c === "BAD_SIGNATURE")
        throw new AppError("VALIDATION_ERROR", "QR token is not valid", [{ path: "/token", message: c.toLowerCase() }]);
      if (c.user === user)
        throw new AppError("VALIDATION_ERROR", "a QR cannot be redeemed by the user who showed it", [
          { path: "/user", message: "self encounter" },
        ]);
      const me = await party(user, "user");
      const pair = [
        { id: c.user, kind: c.kind },
        { id: user, kind: me.kind },
      ];
      const civ = pair.find((p) => p.kind === "civilian");
      const off = pair.find((p) => p.kind === "officer");
      if (!civ || !off)
        throw new AppError("VALIDATION_ERROR", "an encounter is between a civilian and an officer", [
          { path: "/user", message: `is a ${me.kind}` },
        ]);
      try {
        await qrKv.create(c.nonce, JSON.stringify({ by: user, at: Date.now() }));
      } catch {
        throw new AppError("CONFLICT", "QR token already used");
      }
      return this.submit({ id: `qr-${c.nonce}`, kind: "encounter", from: civ.id, to: off.id, memo: "qr" });
    },
  };
}

/** The rewards API (see {@link createRewardsApi}). */
export type RewardsApi = Awaited<ReturnType<typeof createRewardsApi>>;
