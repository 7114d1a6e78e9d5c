/**
 * Business rules: the rule schema (one JSON Schema, one type), its validation, and the pure
 * scoring of a transaction against the rules in force. A rule names a transaction kind,
 * conditions (party kinds, amount range, UTC time window, first encounter of a pair per day),
 * the points each party gets and an optional cap per period. Every enabled rule whose
 * conditions match applies; the points add up.
 */
import { createAjv } from "../../lib/ajv";
import type { ErrorDetail } from "../../lib/errors";
import { arr, bool, int, obj, oneOf, str, type Infer } from "../../lib/json-schema";
import { isRecord, PARTY_KINDS, PERIODS, TX_KINDS, type Award, type PartyKind, type TxKind } from "./model";

const HHMM = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

/** The rule a client writes (`POST /api/v1/admin/rewards/rules`, `PUT .../{id}`). */
export const ruleBodySchema = obj(
  {
    name: str({ maxLength: 200, minLength: 1 }),
    txKind: oneOf(TX_KINDS, { description: "The transaction kind this rule scores" }),
    points: obj(
      {},
      {
        from: int({ minimum: 0, maximum: 1_000_000, description: "Points credited to the sender" }),
        to: int({ minimum: 0, maximum: 1_000_000, description: "Points credited to the receiver" }),
      },
      { description: "Points per party (from the issuance account)" },
    ),
  },
  {
    enabled: bool({ description: "Default true" }),
    conditions: obj(
      {},
      {
        fromKinds: arr(oneOf(PARTY_KINDS), {
          minItems: 1,
          maxItems: 5,
          description: "Sender kinds the rule applies to",
        }),
        toKinds: arr(oneOf(PARTY_KINDS), {
          minItems: 1,
          maxItems: 5,
          description: "Receiver kinds the rule applies to",
        }),
        amount: obj(
          {},
          { min: int({ minimum: 0 }), max: int({ minimum: 0 }) },
          { description: "Amount range (inclusive)" },
        ),
        timeWindow: obj(
          { from: str({ pattern: HHMM, maxLength: 5 }), to: str({ pattern: HHMM, maxLength: 5 }) },
          {},
          { description: "UTC time of day, from inclusive to exclusive (may wrap midnight)" },
        ),
        firstEncounterOfPairPerDay: bool({
          description: "Only the first transaction of this kind between the pair on a UTC day scores",
        }),
      },
    ),
    cap: obj(
      { period: oneOf(PERIODS), maxPointsPerParty: int({ minimum: 1, maximum: 1_000_000_000 }) },
      {},
      { description: "At most this many points from this rule per party per calendar period (UTC)" },
    ),
  },
);
export type RuleBody = Infer<typeof ruleBodySchema>;

/** A rule as stored: its body with id and version. */
export interface Rule extends RuleBody {
  readonly id: string;
  readonly version: number;
  readonly updatedAt: string;
  readonly updatedBy: string;
}

/** The JSON Schema of a stored rule (OpenAPI). */
export const RULE_SCHEMA = {
  ...ruleBodySchema.schema,
  properties: {
    ...ruleBodySchema.schema.properties,
    id: { type: "string" },
    version: { type: "integer" },
    updatedAt: { type: "string" },
    updatedBy: { type: "string" },
  },
  required: [...(ruleBodySchema.schema.required ?? []), "id", "version"],
};

const validateBody = createAjv({ allErrors: true, strict: false }).compile<RuleBody>(ruleBodySchema.schema);

/** Problems of `body` as a rule (schema, then cross-field checks); empty when it is one. */
export function checkRule(body: unknown): ErrorDetail[] {
  if (!validateBody(body)) {
    return (validateBody.errors ?? []).map((e) => ({ path: e.instancePath || "/", message: e.message ?? "invalid" }));
  }
  const problems: ErrorDetail[] = [];
  const a = body.conditions?.amount;
  if (a?.min !== undefined && a.max !== undefined && a.min > a.max)
    problems.push({ path: "/conditions/amount", message: "min is above max" });
  if (body.conditions?.firstEncounterOfPairPerDay && body.txKind !== "encounter")
    problems.push({ path: "/conditions/firstEncounterOfPairPerDay", message: "applies to encounters only" });
  if (body.conditions?.amount && body.txKind === "encounter")
    problems.push({ path: "/conditions/amount", message: "encounters carry no amount" });
  if (body.points.from === undefined && body.points.to === undefined)
    problems.push({ path: "/points", message: "give points to at least one party" });
  return problems;
}

/** Minutes since midnight of `HH:MM`. */
function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** True when the UTC time of `at` is in `[from, to)` (wrapping midnight when from > to). */
export function inWindow(w: { from: string; to: string }, at: number): boolean {
  const d = new Date(at);
  const m = d.getUTCHours() * 60 + d.getUTCMinutes();
  const f = minutesOf(w.from);
  const t = minutesOf(w.to);
  return f <= t ? m >= f && m < t : m >= f || m < t;
}

/** What scoring looks at in a transaction. */
export interface ScoredTx {
  readonly kind: TxKind;
  readonly fromKind: PartyKind;
  readonly toKind: PartyKind;
  readonly amount: number;
  readonly at: number;
}

/**
 * The awards `rules` give `tx`: for each enabled rule of its kind whose stateless conditions
 * hold, one award per party with points, carrying the stateful conditions (first of pair per
 * day, cap) for the account actors to check. Sorted by rule id, so the plan is deterministic.
 */
export function scoreTx(rules: Iterable<Rule>, tx: ScoredTx): Award[] {
  const awards: Award[] = [];
  const matching = [...rules]
    .filter((r) => r.txKind === tx.kind && r.enabled !== false)
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const r of matching) {
    const c = r.conditions ?? {};
    if (c.fromKinds && !c.fromKinds.includes(tx.fromKind)) continue;
    if (c.toKinds && !c.toKinds.includes(tx.toKind)) continue;
    if (c.amount?.min !== undefined && tx.amount < c.amount.min) continue;
    if (c.amount?.max !== undefined && tx.amount > c.amount.max) continue;
    if (c.timeWindow && !inWindow(c.timeWindow, tx.at)) continue;
    for (const party of ["from", "to"] as const) {
      const points = r.points[party] ?? 0;
      if (points <= 0) continue;
      awards.push({
        rule: r.id,
        version: r.version,
        party,
        points,
        ...(c.firstEncounterOfPairPerDay ? { firstOfPairPerDay: true } : {}),
        ...(r.cap ? { cap: { period: r.cap.period, max: r.cap.maxPointsPerParty } } : {}),
      });
    }
  }
  return awards;
}

/** A stored rule read back from KV: its body fits the schema and it has an id and version. */
export function parseRule(v: unknown): Rule | undefined {
  if (!isRecord(v)) return undefined;
  const { id, version, updatedAt, updatedBy, ...body } = v;
  if (typeof id !== "string" || typeof version !== "number") return undefined;
  if (!validateBody(body) || checkRule(body).length > 0) return undefined;
  return {
    ...body,
    id,
    version,
    updatedAt: typeof updatedAt === "string" ? updatedAt : "",
    updatedBy: typeof updatedBy === "string" ? updatedBy : "",
  };
}
