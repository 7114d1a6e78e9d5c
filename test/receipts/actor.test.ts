import { expect } from "chai";
import {
  handleReceipt,
  initialReceiptState,
  clientWebhook,
  receipt,
  receiptKind,
  taxRegistration,
  warehouseRegistration,
  type ReceiptActorOptions,
  type ReceiptMessage,
  type ReceiptState,
  type SubmittedReceipt,
  type WebhookJobData,
} from "../../services/receipts/receipt.actor";
import type { Effect, JobResult } from "../../actors/types";
import { RECEIPT_TYPES } from "../../services/receipts/types";
import { ReceiptTypeRegistry } from "../../services/receipts/registry";
import { readReceipt } from "../../services/receipts/parse";
import { TerminalError } from "../../lib/errors";
import { statusFromState } from "../../services/receipts/status";

const registry = new ReceiptTypeRegistry(RECEIPT_TYPES);
/** The job names, from the typed references. */
const RECEIPT_JOBS = {
  tax: taxRegistration.name,
  warehouse: warehouseRegistration.name,
  webhook: clientWebhook.name,
} as const;
const DEADLINE = 24 * 3600_000;
const opts: ReceiptActorOptions = {
  registry,
  statusSubject: (id) => `t.receipts.st.${id}`,
  deadlineMs: DEADLINE,
  callbackWaitMs: 60_000,
  webhookDeadlineMs: 3600_000,
  publicUrl: "https://api.example",
};
const ID = "01JABCDEFGHJKMNPQRSTVWXYZ0";
const T0 = 1_700_000_000_000;

function submitted(overrides: Partial<SubmittedReceipt> = {}, mutate?: (doc: any) => void): SubmittedReceipt {
  const doc = JSON.parse(RECEIPT_TYPES[0]!.examples.json);
  mutate?.(doc);
  const r = readReceipt(registry, Buffer.from(JSON.stringify(doc)), "application/json");
  return {
    id: ID,
    clientId: "c1",
    type: r.type.name,
    format: r.format,
    createdAt: T0,
    callbackUrl: "https://client.example/hook",
    summary: r.summary,
    document: r.document,
    ...overrides,
  };
}

/** Drives the pure handler like the runtime would, collecting effects. */
class Harness {
  state: ReceiptState = initialReceiptState(ID);
  effects: Effect[] = [];
  seq = 0;
  now = T0;

  send(data: ReceiptMessage | Record<string, unknown>): Effect[] {
    const r = handleReceipt(
      this.state,
      { key: ID, seq: ++this.seq, data: data as ReceiptMessage, headers: {}, publishedAt: this.now, deliveryCount: 1 },
      { kind: "receipt", key: ID, now: this.now },
      opts,
    );
    this.state = r.state;
    const effects = [...(r.effects ?? [])];
    this.effects.push(...effects);
    return effects;
  }
  jobs(job?: string): Extract<Effect, { type: "job" }>[] {
    return this.effects.filter(
      (e): e is Extract<Effect, { type: "job" }> => e.type === "job" && (job === undefined || e.job === job),
    );
  }
  lastJob(job: string): Extract<Effect, { type: "job" }> {
    const j = this.jobs(job).at(-1);
    if (!j) throw new Error(`no ${job} job`);
    return j;
  }
  result(job: string, id: string, r: Omit<JobResult["$job"], "id" | "job">): Effect[] {
    return this.send({ $job: { id, job, ...r } });
  }
  registered(svc: "tax" | "warehouse", ref: string, attempts = 1): Effect[] {
    const job = RECEIPT_JOBS[svc];
    return this.result(job, this.lastJob(job).id!, { ok: true, result: { registrationId: ref }, attempts });
  }
  webhooks(): WebhookJobData[] {
    return this.jobs(RECEIPT_JOBS.webhook).map((j) => j.data as WebhookJobData);
  }
  statusUpdates(): unknown[] {
    return this.effects.filter((e) => e.type === "publish").map((e) => (e as { data: unknown }).data);
  }
}

describe("receipt actor (pure handler)", () => {
  it("keeps the kind and job names of stored streams (receipt, taxreg, whreg, rcpthook)", () => {
    expect(receipt.name).to.equal("receipt");
    expect(receiptKind(opts).name).to.equal("receipt");
    expect(RECEIPT_JOBS).to.deep.equal({ tax: "taxreg", warehouse: "whreg", webhook: "rcpthook" });
  });

  it("submit of a valid receipt starts tax and warehouse registrations in parallel", () => {
    const h = new Harness();
    const effects = h.send({ type: "submit", receipt: submitted() });
    expect(h.state.status).to.equal("REGISTERING");
    expect(h.state.steps.validation.state).to.equal("passed");
    const jobs = effects.filter((e) => e.type === "job") as Extract<Effect, { type: "job" }>[];
    expect(jobs.map((j) => [j.job, j.id])).to.deep.equal([
      ["taxreg", `${ID}-tax-1`],
      ["whreg", `${ID}-wh-1`],
    ]);
    expect(jobs[0]!.deadlineMs).to.equal(DEADLINE);
    expect(jobs[0]!.data).to.deep.include({
      receiptId: ID,
      service: "tax",
      type: "retail",
      total: 155.8,
      currency: "UAH",
      issuedAt: "2024-12-31T18:25:43.000Z",
    });
    expect(h.statusUpdates()).to.deep.equal([
      {
        id: ID,
        createdAt: T0,
        version: 1,
        status: "REGISTERING",
        updatedAt: T0,
        taxReference: null,
        warehouseReference: null,
        reason: null,
      },
    ]);
  });

  it("reaches ACCEPTED with both references and sends one receipt.accepted webhook", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.now += 100;
    h.registered("warehouse", "WH-1");
    expect(h.state.status).to.equal("REGISTERING");
    expect(h.state.steps.warehouse).to.deep.include({ state: "registered", reference: "WH-1", attempts: 1 });
    h.now += 100;
    h.registered("tax", "TAX-1", 3);
    expect(h.state.status).to.equal("ACCEPTED");
    expect(h.state.steps.tax).to.deep.include({ state: "registered", reference: "TAX-1", attempts: 3 });
    expect(h.state.document).to.equal(null);
    const hooks = h.webhooks();
    expect(hooks).to.have.length(1);
    expect(hooks[0]!.event).to.equal("receipt.accepted");
    expect(hooks[0]!.url).to.equal("https://client.example/hook");
    expect(JSON.parse(hooks[0]!.body).data).to.deep.include({
      id: ID,
      status: "ACCEPTED",
      references: { tax: "TAX-1", warehouse: "WH-1" },
    });
    const hookJob = h.lastJob(RECEIPT_JOBS.webhook);
    expect(hookJob.replyTo).to.equal(null);
    expect(hookJob.id).to.equal(`${ID}-hook-1`);
    expect((h.statusUpdates().at(-1) as { status: string }).status).to.equal("ACCEPTED");
  });

  it("a receipt breaking business rules ends INVALID with details, no registrations", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted({}, (d) => (d.totals.gross = 1)) });
    expect(h.state.status).to.equal("INVALID");
    expect(h.state.steps.validation.state).to.equal("failed");
    expect(h.state.steps.validation.errors.map((e) => e.path)).to.include("/totals/gross");
    expect(h.jobs("taxreg")).to.have.length(0);
    expect(h.webhooks().map((w) => w.event)).to.deep.equal(["receipt.invalid"]);
    expect(JSON.parse(h.webhooks()[0]!.body).data.errors).to.be.an("array").that.is.not.empty;
  });

  it("a 422 from a service ends REJECTED with its reason; late news changes nothing", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.result("taxreg", `${ID}-tax-1`, { ok: false, terminal: true, error: "TIN blocked", attempts: 1 });
    expect(h.state.status).to.equal("REJECTED");
    expect(h.state.reason).to.equal("tax service rejected the receipt: TIN blocked");
    expect(h.webhooks().map((w) => w.event)).to.deep.equal(["receipt.rejected"]);
    h.registered("warehouse", "WH-9");
    expect(h.state.status).to.equal("REJECTED");
    expect(h.state.steps.warehouse.reference).to.equal("WH-9");
    h.send({ type: "callback", service: "tax", status: "registered", registrationId: "T-late" });
    expect(h.state.steps.tax.state).to.equal("rejected");
    expect(h.webhooks()).to.have.length(1);
  });

  it("a 202 waits for the signed callback; duplicate and late callbacks are ignored", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.result("taxreg", `${ID}-tax-1`, { ok: true, result: { pending: true }, attempts: 1 });
    expect(h.state.steps.tax).to.deep.include({ state: "awaiting-callback", pendingSince: T0 });
    h.send({ type: "callback", service: "tax", status: "registered", registrationId: "T-1" });
    expect(h.state.steps.tax).to.deep.include({ state: "registered", reference: "T-1" });
    const version = h.state.version;
    const before = h.state;
    expect(h.send({ type: "callback", service: "tax", status: "registered", registrationId: "T-1" })).to.deep.equal([]);
    expect(h.send({ type: "callback", service: "tax", status: "rejected", reason: "late" })).to.deep.equal([]);
    h.now += 10 * 60_000;
    expect(h.send({ type: "recheck" })).to.deep.equal([]);
    expect(h.state).to.equal(before);
    expect(h.state.version).to.equal(version);
    h.registered("warehouse", "WH-1");
    expect(h.state.status).to.equal("ACCEPTED");
  });

  it("a callback that arrives before the job's 202 result wins (out of order)", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.send({ type: "callback", service: "warehouse", status: "registered", registrationId: "W-1" });
    h.result("whreg", `${ID}-wh-1`, { ok: true, result: { pending: true }, attempts: 1 });
    expect(h.state.steps.warehouse).to.deep.include({ state: "registered", reference: "W-1", pendingSince: null });
  });

  it("a lost callback: a recheck after callbackWaitMs asks the service again with the same idempotency key", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.result("taxreg", `${ID}-tax-1`, { ok: true, result: { pending: true }, attempts: 1 });
    h.now += 30_000;
    // too early: nothing happens
    expect(h.send({ type: "recheck" })).to.deep.equal([]);
    h.now += 30_000;
    h.send({ type: "recheck" });
    const again = h.lastJob("taxreg");
    expect(again.id).to.equal(`${ID}-tax-2`);
    expect((again.data as { receiptId: string }).receiptId).to.equal(ID);
    expect(again.deadlineMs).to.equal(DEADLINE - 60_000);
    h.registered("tax", "T-1");
    h.registered("warehouse", "W-1");
    expect(h.state.status).to.equal("ACCEPTED");
    expect(h.state.steps.tax.attempts).to.equal(2);
  });

  it("a service unreachable past the deadline: FAILED, then an operator retry reaches ACCEPTED", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.registered("warehouse", "W-1");
    h.now += DEADLINE;
    h.result("taxreg", `${ID}-tax-1`, { ok: false, terminal: false, error: "HTTP 503", attempts: 40 });
    expect(h.state.status).to.equal("FAILED");
    expect(h.state.reason).to.equal("tax service: HTTP 503");
    expect(h.state.steps.tax).to.deep.include({ state: "failed", attempts: 40, lastError: "HTTP 503" });
    expect(h.state.document).to.not.equal(null);
    expect(h.webhooks().map((w) => w.event)).to.deep.equal(["receipt.failed"]);
    // a retry of a receipt that is not FAILED does nothing
    const other = new Harness();
    other.send({ type: "submit", receipt: submitted() });
    expect(other.send({ type: "retry" }).filter((e) => e.type === "job")).to.have.length(0);

    h.now += 1000;
    const effects = h.send({ type: "retry", requestedBy: "ops" });
    expect(h.state.status).to.equal("REGISTERING");
    expect(h.state.operatorRetries).to.equal(1);
    const jobs = effects.filter((e) => e.type === "job") as Extract<Effect, { type: "job" }>[];
    expect(jobs.map((j) => j.id)).to.deep.equal([`${ID}-tax-2`]);
    expect(jobs[0]!.deadlineMs).to.equal(DEADLINE);
    // the failed first job's stale outcome cannot undo the retry
    h.result("taxreg", `${ID}-tax-1`, { ok: false, terminal: false, error: "old", attempts: 1 });
    expect(h.state.status).to.equal("REGISTERING");
    h.registered("tax", "T-2");
    expect(h.state.status).to.equal("ACCEPTED");
    expect(h.state.steps.tax.attempts).to.equal(41);
    expect(h.webhooks().map((w) => w.event)).to.deep.equal(["receipt.failed", "receipt.accepted"]);
    expect(h.webhooks().map((_, i) => h.jobs(RECEIPT_JOBS.webhook)[i]!.id)).to.deep.equal([
      `${ID}-hook-1`,
      `${ID}-hook-2`,
    ]);
  });

  it("a late registered callback turns FAILED into ACCEPTED", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.registered("warehouse", "W-1");
    h.result("taxreg", `${ID}-tax-1`, { ok: false, terminal: false, error: "timeout", attempts: 9 });
    expect(h.state.status).to.equal("FAILED");
    h.send({ type: "callback", service: "tax", status: "registered", registrationId: "T-1" });
    expect(h.state.status).to.equal("ACCEPTED");
  });

  it("waits for the other service before FAILED", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.result("taxreg", `${ID}-tax-1`, { ok: false, terminal: false, error: "down", attempts: 9 });
    expect(h.state.status).to.equal("REGISTERING");
    h.result("whreg", `${ID}-wh-1`, { ok: false, terminal: false, error: "down too", attempts: 9 });
    expect(h.state.status).to.equal("FAILED");
    expect(h.state.reason).to.equal("tax service: down; warehouse service: down too");
    h.send({ type: "retry" });
    expect(
      h
        .jobs()
        .filter((j) => j.job !== RECEIPT_JOBS.webhook)
        .map((j) => j.id),
    ).to.deep.equal([`${ID}-tax-1`, `${ID}-wh-1`, `${ID}-tax-2`, `${ID}-wh-2`]);
  });

  it("a pending registration whose callback never comes fails at the deadline", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.registered("warehouse", "W-1");
    h.result("taxreg", `${ID}-tax-1`, { ok: true, result: { pending: true }, attempts: 1 });
    h.now += DEADLINE;
    h.send({ type: "recheck" });
    expect(h.state.status).to.equal("FAILED");
    expect(h.state.steps.tax.lastError).to.equal("no callback before the deadline");
  });

  it("the status view shows webhook deliveries from the delivery log, failed past the deadline", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    h.registered("tax", "T");
    h.registered("warehouse", "W");
    const hookId = `${ID}-hook-1`;
    expect(h.state.webhooks).to.deep.equal([
      { id: hookId, event: "receipt.accepted", createdAt: T0, deadline: T0 + 3600_000 },
    ]);
    const st = h.state as ReceiptState & { status: "ACCEPTED" };
    expect(statusFromState(st, T0 + 1).webhooks[0]).to.deep.include({ state: "pending", attempts: 0 });
    expect(statusFromState(st, T0 + 3600_000).webhooks[0]).to.deep.include({ state: "failed" });
    const delivered = statusFromState(st, T0 + 3600_000, {
      [hookId]: { attempts: 2, lastAttemptAt: T0 + 20, lastStatus: 204, lastError: null, deliveredAt: T0 + 20 },
    });
    expect(delivered.webhooks[0]).to.deep.include({
      state: "delivered",
      attempts: 2,
      lastStatus: 204,
      deliveredAt: new Date(T0 + 20).toISOString(),
    });
    expect(delivered).to.deep.include({ id: ID, status: "ACCEPTED", reason: null });
    expect(delivered.steps.tax).to.deep.equal({ state: "registered", reference: "T", attempts: 1, lastError: null });
  });

  it("a redelivered submit changes nothing and emits nothing", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted() });
    const s = h.state;
    expect(h.send({ type: "submit", receipt: submitted() })).to.deep.equal([]);
    expect(h.state).to.equal(s);
  });

  it("callbacks and results for a receipt never submitted are ignored", () => {
    const h = new Harness();
    h.send({ type: "callback", service: "tax", status: "registered", registrationId: "x" });
    h.result("taxreg", "whatever", { ok: true, result: { registrationId: "x" }, attempts: 1 });
    expect(h.state.status).to.equal(null);
    expect(h.effects).to.deep.equal([]);
  });

  it("no webhook when the client has no callback URL", () => {
    const h = new Harness();
    h.send({ type: "submit", receipt: submitted({ callbackUrl: null }) });
    h.registered("tax", "T");
    h.registered("warehouse", "W");
    expect(h.state.status).to.equal("ACCEPTED");
    expect(h.webhooks()).to.have.length(0);
    expect(h.state.webhooks).to.have.length(0);
  });

  it("malformed messages are terminal errors (DLQ)", () => {
    const h = new Harness();
    expect(() => h.send({ type: "explode" })).to.throw(TerminalError);
    expect(() => h.send({ nope: 1 })).to.throw(TerminalError);
  });

  it("is deterministic: the same inputs give the same states and effects", () => {
    const run = () => {
      const h = new Harness();
      h.send({ type: "submit", receipt: submitted() });
      h.result("taxreg", `${ID}-tax-1`, { ok: true, result: { pending: true }, attempts: 2 });
      h.registered("warehouse", "W");
      h.send({ type: "callback", service: "tax", status: "registered", registrationId: "T" });
      return JSON.stringify([h.state, h.effects]);
    };
    expect(run()).to.equal(run());
  });
});
