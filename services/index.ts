/**
 * The domains a node can host, by SERVICES name. Each domain brings its migrations, stream
 * declarations, actor kinds, jobs and Moleculer services (see node/context.ts `Domain`).
 */
import type { ServiceName } from "../config";
import type { Domain } from "../node/context";
import { runtimeDomain } from "./runtime/service";
import { probeDomain } from "./probe";
import { gatewayDomain } from "./gateway/service";
import { receiptsDomain } from "./receipts/service";
import { eventsDomain } from "./events/service";
import { supportersDomain } from "./supporters/service";

/** Every domain, in start order. */
export const DOMAINS: Readonly<Partial<Record<ServiceName, Domain>>> = {
  runtime: runtimeDomain,
  probe: probeDomain,
  gateway: gatewayDomain,
  receipts: receiptsDomain,
  events: eventsDomain,
  supporters: supportersDomain,
};
