/**
 * The gateway domain's REPL commands (`npm run repl`): client administration through the
 * `clients` service, the same actions as the admin routes (bin/clients.ts does the same from
 * the command line, straight on the registry). Each command is a plain function over a broker
 * joined to the cluster (`clientCommands`), so tests call exactly what the REPL runs.
 */
import type { ServiceBroker } from "moleculer";
import type { ReplCommand } from "../../node/domain";
import type { ClientsApi } from "./service";

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
