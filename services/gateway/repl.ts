/**
 * The gateway domain's REPL commands (`npm run repl`): client administration through the
 * `clients` service, the same actions as the admin routes (bin/clients.ts does the same from
 * the command line, straight on the registry). Each command is a plain function over a broker
 * joined to the cluster (`clientCommands`), so tests call exactly what the REPL runs.
 */
import type { ServiceBroker } from "moleculer";
import type { ReplCommand } from "../../node/domain";
import type { ClientsApi } from "./service";
import type { HttpCallParams } from "../../gateway/routes";
import { CANARY_STATES, type CanaryInput, type CanaryRecord } from "../../gateway/canary";

type Result<A extends keyof ClientsApi> = ClientsApi[A]["result"];

/** Calls `action` of the `clients` service with its typed params. */
function call<A extends keyof ClientsApi>(
  broker: ServiceBroker,
  action: A,
  params: ClientsApi[A]["params"],
): Promise<Result<A>> {
  return broker.call<Result<A>, ClientsApi[A]["params"]>(action, params);
}

/** Client administration through the `clients` service (the same code as the admin routes and CLI). */
export const clientCommands = {
  /** Creates a client; the answer holds its API key and webhook secret (shown once). */
  create: (broker: ServiceBroker, input: { name: string; scopes: string[]; webhookUrl?: string }) =>
    call(broker, "clients.create", { params: {}, query: {}, body: input }),
  /** One page of clients. */
  list: (broker: ServiceBroker, query: { limit?: number; after?: string; status?: "active" | "suspended" } = {}) =>
    call(broker, "clients.list", { params: {}, query }),
  /** Suspends a client (refused on every node within seconds). */
  suspend: (broker: ServiceBroker, id: string) => call(broker, "clients.suspend", { params: { id }, query: {} }),
  /** Re-activates a suspended client. */
  activate: (broker: ServiceBroker, id: string) => call(broker, "clients.activate", { params: { id }, query: {} }),
  /** Issues a new API key; older keys keep working for `overlapSeconds` (default: the gateway's). */
  rotate: (broker: ServiceBroker, id: string, overlapSeconds?: number) =>
    call(broker, "clients.rotate", {
      params: { id },
      query: {},
      body: overlapSeconds !== undefined ? { overlapSeconds } : {},
    }),
};

function print(s: string): void {
  process.stdout.write(`${s}\n`);
}

const STATUSES = ["active", "suspended"] as const;

/** The REPL's clients-* commands. */
export const clientReplCommands: readonly ReplCommand[] = [
  {
    command: "clients-create",
    description:
      "Create a client: clients-create --name acme --scopes orders:read,orders:write [--webhook-url URL] (prints its API key once)",
    options: [
      { option: "-n, --name <name>", description: "client name" },
      { option: "-s, --scopes <scopes>", description: "comma-separated scopes ({domain}:read, {domain}:write, admin)" },
      { option: "-w, --webhook-url <url>", description: "webhook URL" },
    ],
    action: async (broker, args) => {
      const o = args.options;
      const scopes = String(o["scopes"] ?? "")
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean);
      const webhookUrl = typeof o["webhookUrl"] === "string" ? o["webhookUrl"] : undefined;
      print(
        JSON.stringify(
          await clientCommands.create(broker, {
            name: String(o["name"] ?? ""),
            scopes,
            ...(webhookUrl ? { webhookUrl } : {}),
          }),
          null,
          2,
        ),
      );
    },
  },
  {
    command: "clients-list",
    description: "List clients: clients-list [--status active|suspended] [--limit N]",
    options: [
      { option: "--status <status>", description: "active or suspended" },
      { option: "-l, --limit <limit>", description: "page size" },
    ],
    action: async (broker, args, { table }) => {
      const o = args.options;
      const status = STATUSES.find((s) => s === o["status"]);
      if (o["status"] !== undefined && !status) return print(`--status must be ${STATUSES.join(" or ")}`);
      const page = await clientCommands.list(broker, {
        ...(status ? { status } : {}),
        ...(o["limit"] !== undefined ? { limit: Number(o["limit"]) } : {}),
      });
      print(
        table([
          ["id", "name", "status", "scopes"],
          ...page.items.map((c) => [c.id, c.name, c.status, JSON.stringify(c.scopes)]),
        ]),
      );
    },
  },
  {
    command: "clients-suspend <id>",
    description: "Suspend a client (refused on every node within seconds)",
    action: async (broker, args) => print(JSON.stringify(await clientCommands.suspend(broker, String(args["id"])))),
  },
  {
    command: "clients-activate <id>",
    description: "Re-activate a suspended client",
    action: async (broker, args) => print(JSON.stringify(await clientCommands.activate(broker, String(args["id"])))),
  },
  {
    command: "clients-rotate <id>",
    description: "Issue a new API key: clients-rotate <id> [--overlap SECONDS] (old keys keep working for the overlap)",
    options: [{ option: "--overlap <seconds>", description: "how long old keys keep working" }],
    action: async (broker, args) => {
      const overlap = args.options["overlap"];
      print(
        JSON.stringify(
          await clientCommands.rotate(broker, String(args["id"]), overlap !== undefined ? Number(overlap) : undefined),
          null,
          2,
        ),
      );
    },
  },
];

/** Canary administration through the gateway's actions (the same as the admin routes). */
export const canaryCommands = {
  /** Every canary with the answering node's window. */
  list: (broker: ServiceBroker) =>
    broker.call<{ items: unknown[] }, HttpCallParams>("gateway.canaries", { params: {}, query: {} }),
  /** Starts, changes, promotes or rolls back the canary of `service`. */
  set: (broker: ServiceBroker, service: string, body: CanaryInput) =>
    broker.call<CanaryRecord, HttpCallParams>("gateway.canarySet", { params: { service }, query: {}, body }),
  /** Removes the canary of `service`. */
  remove: (broker: ServiceBroker, service: string) =>
    broker.call<CanaryRecord, HttpCallParams>("gateway.canaryDelete", { params: { service }, query: {} }),
};

/** The REPL's canary commands. */
export const canaryReplCommands: readonly ReplCommand[] = [
  {
    command: "canaries",
    description: "Canaries: service, version, share, state, reason and the answering node's window",
    action: async (broker, _args, { table }) => {
      const { items } = await canaryCommands.list(broker);
      const rows = (items as (CanaryRecord & { window?: { canary: unknown; baseline: unknown } })[]).map((c) => [
        c.service,
        c.version,
        String(c.share),
        c.state,
        c.reason,
        JSON.stringify(c.window ?? {}),
      ]);
      print(table([["service", "version", "share", "state", "reason", "window"], ...rows]));
    },
  },
  {
    command: "canary-set <service>",
    description:
      "Start or change a canary: canary-set orders --version 2 --share 0.1; promote or roll back: canary-set orders --state promoted",
    options: [
      { option: "-v, --version <version>", description: "the canary's version (instance metadata.version)" },
      { option: "-s, --share <share>", description: "share of calls, 0..1" },
      { option: "--state <state>", description: "running, promoted or rolled-back" },
      { option: "-r, --reason <reason>", description: "why (logged and emitted)" },
    ],
    action: async (broker, args) => {
      const o = args.options;
      const state = CANARY_STATES.find((s) => s === o["state"]);
      if (o["state"] !== undefined && !state) return print(`--state must be ${CANARY_STATES.join(", ")}`);
      const body: CanaryInput = {
        ...(o["version"] !== undefined ? { version: String(o["version"]) } : {}),
        ...(o["share"] !== undefined ? { share: Number(o["share"]) } : {}),
        ...(state ? { state } : {}),
        ...(typeof o["reason"] === "string" ? { reason: o["reason"] } : {}),
      };
      print(JSON.stringify(await canaryCommands.set(broker, String(args["service"]), body), null, 2));
    },
  },
  {
    command: "canary-remove <service>",
    description: "Remove a canary (calls balance over every instance again)",
    action: async (broker, args) => print(JSON.stringify(await canaryCommands.remove(broker, String(args["service"])))),
  },
];
