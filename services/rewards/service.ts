/**
 * The Moleculer service "rewards": its actions check the caller's access, call the
 * {@link RewardsApi} and shape the answer. `rewards.score` is the entry point for other domains
 * (a node or operator caller, or a client with rewards:write); the NATS subject
 * `{ns}.rewards.score` is the same for plain NATS callers (index.ts).
 */
import type { Context, ServiceSchema } from "moleculer";
import {
  clientOf,
  endUserOf,
  intCursorOf,
  OPERATOR,
  refuseEndUser,
  requireCaller,
  requireSelf,
  withNextCursor,
  type GatewayMeta,
  type HttpCallParams,
} from "../../gateway";
import type { ContentManager, ProductBody } from "./content";
import { AppError } from "../../lib/errors";
import type { RewardsApi } from "./api";
import type { OpenAccountRequest, SignupBody, TxOutcome, TxRequest } from "./model";
import type { RuleBody } from "./rules";

type Ctx<P = HttpCallParams> = Context<P, GatewayMeta>;
type IdCall = HttpCallParams<{ id: string }>;

/** The answer of a transaction route: 200 with the outcome, or 202 while it is under way. */
function answer(
  c: Ctx<unknown>,
  id: string,
  outcome: TxOutcome | null,
): TxOutcome | { id: string; status: "accepted" } {
  if (outcome) return outcome;
  c.meta.$statusCode = 202;
  return { id, status: "accepted" };
}

/**
 * The caller as the content manager sees it: "operator" for operators, nodes and admins, and
 * for a merchant's end user acting as that merchant (403 as any other entity, 404 when
 * `merchant` is not a merchant); else the client id (the content manager checks its link).
 */
async function merchantCaller(c: Ctx<unknown>, api: RewardsApi, merchant: string): Promise<string> {
  const who = requireCaller(c, ["rewards:write", "admin"]);
  const user = endUserOf(c);
  if (user) {
    requireSelf(c, merchant, "merchant");
    if (!user.scopes.includes("admin") && (await api.kindOf(merchant)) !== "merchant")
      throw new AppError("NOT_FOUND", `merchant ${merchant} not found`);
    return OPERATOR;
  }
  return clientOf(c)?.scopes.includes("admin") ? OPERATOR : who;
}

type MerchantCall<B = unknown, Q = Record<string, unknown>> = Ctx<
  HttpCallParams<{ id: string; product: string; redemption: string }, Q, B>
>;

/** The Moleculer service "rewards" over `api` and `content`; `validTx` validates a transaction request. */
export function rewardsService(
  api: RewardsApi,
  content: ContentManager,
  validTx: (v: unknown) => TxRequest,
): ServiceSchema {
  return {
    name: "rewards",
    events: {
      // every node's waiting requests: the outcome of a transaction, from the account actor
      "rewards.outcome"(c: Context<TxOutcome>) {
        api.deliver(c.params);
      },
    },
    actions: {
      linkMerchant(c: MerchantCall<{ client: string }>) {
        requireCaller(c, ["admin"]);
        return content.linkClient(c.params.params.id, c.params.body?.client ?? "");
      },
      async products(c: MerchantCall) {
        return content.products(await merchantCaller(c, api, c.params.params.id), c.params.params.id);
      },
      async createProduct(c: MerchantCall<ProductBody>) {
        const who = await merchantCaller(c, api, c.params.params.id);
        if (!c.params.body) throw new AppError("BAD_REQUEST", "body required");
        const r = await content.createProduct(who, c.params.params.id, c.params.body);
        c.meta.$statusCode = 201;
        return r;
      },
      async updateProduct(c: MerchantCall<ProductBody>) {
        const who = await merchantCaller(c, api, c.params.params.id);
        if (!c.params.body) throw new AppError("BAD_REQUEST", "body required");
        return content.updateProduct(who, c.params.params.id, c.params.params.product, c.params.body);
      },
      async putImage(c: MerchantCall<{ contentType: string; dataBase64: string }>) {
        const who = await merchantCaller(c, api, c.params.params.id);
        const b = c.params.body;
        if (!b) throw new AppError("BAD_REQUEST", "body required");
        return content.putImage(who, c.params.params.id, c.params.params.product, b.contentType, b.dataBase64);
      },
      async image(c: MerchantCall) {
        const img = await content.image(c.params.params.product);
        c.meta.$responseType = img.contentType;
        c.meta.$responseHeaders = { "Cache-Control": "public, max-age=86400", ETag: img.etag };
        return img.bytes;
      },
      async marketplace(
        c: Ctx<HttpCallParams<Record<string, string>, { limit?: number; cursor?: string; after?: string }>>,
      ) {
        requireCaller(c, ["rewards:read"]);
        const q = c.params.query;
        return withNextCursor(await content.marketplace(q.limit ?? 100, q.cursor ?? q.after));
      },
      async redeemProduct(
        c: Ctx<
          HttpCallParams<
            Record<string, string>,
            Record<string, unknown>,
            { product: string; buyer: string; id?: string }
          >
        >,
      ) {
        requireCaller(c, ["rewards:write"]);
        if (!c.params.body) throw new AppError("BAD_REQUEST", "body required");
        requireSelf(c, c.params.body.buyer, "buyer");
        const r = await content.redeem(c.params.body);
        c.meta.$statusCode = 201;
        return r;
      },
      async confirmRedemption(c: MerchantCall) {
        const who = await merchantCaller(c, api, c.params.params.id);
        return content.confirm(who, c.params.params.id, c.params.params.redemption);
      },
      async refundRedemption(c: MerchantCall) {
        const who = await merchantCaller(c, api, c.params.params.id);
        return content.refund(who, c.params.params.id, c.params.params.redemption);
      },
      async sales(c: MerchantCall<unknown, { limit?: number; cursor?: string; before?: number }>) {
        const q = c.params.query;
        const who = await merchantCaller(c, api, c.params.params.id);
        return withNextCursor(
          await content.sales(who, c.params.params.id, q.limit ?? 100, intCursorOf(q.cursor, q.before)),
        );
      },

      async open(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, OpenAccountRequest>>) {
        requireCaller(c, ["rewards:write"]);
        refuseEndUser(c, "opening an account");
        if (!c.params.body) throw new AppError("BAD_REQUEST", "body required");
        const r = await api.open(c.params.body);
        c.meta.$statusCode = r.created ? 201 : 200;
        return r;
      },

      async signup(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, SignupBody>>) {
        requireCaller(c, ["rewards:write"]);
        refuseEndUser(c, "starting a signup");
        if (!c.params.body) throw new AppError("BAD_REQUEST", "body required");
        const r = await api.signup(c.params.body);
        c.meta.$statusCode = 202;
        return r;
      },

      signupStatus(c: Ctx<IdCall>) {
        requireCaller(c, ["rewards:read"]);
        requireSelf(c, `u-${c.params.params.id}`, "the user of signup");
        return api.signupStatus(c.params.params.id);
      },

      async retrySignup(c: Ctx<IdCall>) {
        requireCaller(c, ["admin"]);
        const r = await api.retrySignup(c.params.params.id);
        c.meta.$statusCode = 202;
        return r;
      },

      async catalog(
        c: Ctx<HttpCallParams<{ kind: "charity" | "family" }, { limit?: number; cursor?: string; after?: string }>>,
      ) {
        requireCaller(c, ["rewards:read"]);
        const q = c.params.query;
        return withNextCursor(await api.catalog(c.params.params.kind, q.limit ?? 100, q.cursor ?? q.after));
      },

      /** Internal API of the user catalogs for other domains: one entry, or 404. */
      catalogEntry: {
        params: { kind: { type: "enum", values: ["charity", "family"] }, id: { type: "string", max: 200 } },
        async handler(c: Ctx<{ kind: "charity" | "family"; id: string }>) {
          requireCaller(c, ["rewards:read"]);
          return api.catalogEntry(c.params.kind, c.params.id);
        },
      },

      pollCatalogs(c: Ctx<unknown>) {
        requireCaller(c, ["admin"]);
        return api.pollCatalogs();
      },

      account(c: Ctx<IdCall>) {
        requireCaller(c, ["rewards:read"]);
        requireSelf(c, c.params.params.id, "account");
        return api.account(c.params.params.id);
      },

      async ledger(c: Ctx<HttpCallParams<{ id: string }, { limit?: number; cursor?: string; before?: number }>>) {
        requireCaller(c, ["rewards:read"]);
        requireSelf(c, c.params.params.id, "account");
        const q = c.params.query;
        const before = intCursorOf(q.cursor, q.before);
        return withNextCursor(
          await api.ledger(c.params.params.id, { limit: q.limit ?? 100, ...(before !== undefined ? { before } : {}) }),
        );
      },

      async submit(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, TxRequest>>) {
        requireCaller(c, ["rewards:write"]);
        if (!c.params.body) throw new AppError("BAD_REQUEST", "body required");
        requireSelf(c, c.params.body.from, "sender");
        const r = await api.submit(c.params.body);
        return answer(c, r.id, r.outcome);
      },

      /**
       * The scoring entry point for other domains: `broker.call("rewards.score", txRequest)`
       * answers the outcome (or `{ id, status: "accepted" }` when it is still under way).
       */
      async score(c: Ctx<unknown>) {
        requireCaller(c, ["rewards:write"]);
        const r = await api.submit(validTx(c.params));
        return r.outcome ?? { id: r.id, status: "accepted" };
      },

      outcome(c: Ctx<HttpCallParams<{ id: string; tx: string }>>) {
        requireCaller(c, ["rewards:read"]);
        requireSelf(c, c.params.params.id, "account");
        return api.outcome(c.params.params.id, c.params.params.tx);
      },

      async post(c: Ctx<HttpCallParams<{ id: string }, Record<string, unknown>, { from: string }>>) {
        requireCaller(c, ["rewards:write"]);
        requireSelf(c, c.params.body?.from ?? "", "sender");
        const r = await api.settle(c.params.body?.from ?? "", c.params.params.id, "post");
        return answer(c, r.id, r.outcome);
      },

      async void(c: Ctx<HttpCallParams<{ id: string }, Record<string, unknown>, { from: string }>>) {
        requireCaller(c, ["rewards:write"]);
        requireSelf(c, c.params.body?.from ?? "", "sender");
        const r = await api.settle(c.params.body?.from ?? "", c.params.params.id, "void");
        return answer(c, r.id, r.outcome);
      },

      async qr(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, { user: string }>>) {
        requireCaller(c, ["rewards:write"]);
        requireSelf(c, c.params.body?.user ?? "", "user");
        const r = await api.issueQr(c.params.body?.user ?? "");
        c.meta.$statusCode = 201;
        return r;
      },

      async redeem(
        c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, { token: string; user: string }>>,
      ) {
        requireCaller(c, ["rewards:write"]);
        requireSelf(c, c.params.body?.user ?? "", "user");
        const r = await api.redeemQr(c.params.body?.token ?? "", c.params.body?.user ?? "");
        return answer(c, r.id, r.outcome);
      },

      rules(c: Ctx<unknown>) {
        requireCaller(c, ["rewards:read", "admin"]);
        return { items: api.rules.list() };
      },

      rule(c: Ctx<IdCall>) {
        requireCaller(c, ["rewards:read", "admin"]);
        return api.rule(c.params.params.id);
      },

      async ruleVersions(c: Ctx<IdCall>) {
        requireCaller(c, ["admin"]);
        return { items: await api.ruleVersions(c.params.params.id) };
      },

      async createRule(c: Ctx<HttpCallParams<Record<string, string>, Record<string, unknown>, RuleBody>>) {
        const who = requireCaller(c, ["admin"]);
        if (!c.params.body) throw new AppError("BAD_REQUEST", "body required");
        const r = await api.createRule(c.params.body, who);
        c.meta.$statusCode = 201;
        return r;
      },

      updateRule(c: Ctx<HttpCallParams<{ id: string }, Record<string, unknown>, RuleBody>>) {
        const who = requireCaller(c, ["admin"]);
        if (!c.params.body) throw new AppError("BAD_REQUEST", "body required");
        return api.updateRule(c.params.params.id, c.params.body, who);
      },

      deleteRule(c: Ctx<IdCall>) {
        const who = requireCaller(c, ["admin"]);
        return api.deleteRule(c.params.params.id, who);
      },

      check(c: Ctx<unknown>) {
        requireCaller(c, ["admin"]);
        return api.check();
      },

      /** Operators (REPL `rewards-account <id>`): balance, held, pending and the last postings. */
      inspect: {
        params: {
          id: { type: "string", max: 64 },
          limit: { type: "number", integer: true, min: 1, max: 1000, optional: true, convert: true },
        },
        async handler(c: Ctx<{ id: string; limit?: number }>) {
          requireCaller(c, ["admin"]);
          const [acct, ledger] = await Promise.all([
            api.account(c.params.id),
            api.ledger(c.params.id, { limit: c.params.limit ?? 20 }),
          ]);
          return { account: acct, ledger };
        },
      },
    },
  };
}
