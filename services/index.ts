/**
 * The registry: every domain module a node can host, in start order, one line each. SERVICES
 * names a subset by their names. Adding a domain is a folder under services/ and a line here.
 */
import type { DomainModule } from "../node/domain";
import { runtimeDomain } from "./runtime";
import { probeDomain } from "./probe";
import { gatewayDomain } from "./gateway";
import { receiptsDomain } from "./receipts";
import { eventsDomain } from "./tenant-events";
import { supportersDomain } from "./supporters";
import { consoleDomain } from "./console";
import { catalogDomain } from "./catalog";
import { cartDomain } from "./cart";
import { ordersDomain } from "./orders";
import { paymentsDomain } from "./payments";
import { notificationsDomain } from "./notifications";
import { sessionsDomain } from "./sessions";
import { rewardsDomain } from "./rewards";
import { usersDomain } from "./users";
import { archiveDomain } from "./archive";
import { trackingDomain } from "./tracking";
import { agentsDomain } from "./agents";

/** Every domain module, in start order (each with its own type of what its start gives its jobs). */
export const DOMAINS: readonly DomainModule<unknown>[] = [
  runtimeDomain,
  probeDomain,
  gatewayDomain,
  receiptsDomain,
  eventsDomain,
  supportersDomain,
  consoleDomain,
  catalogDomain,
  cartDomain,
  ordersDomain,
  paymentsDomain,
  notificationsDomain,
  sessionsDomain,
  rewardsDomain,
  usersDomain,
  archiveDomain,
  trackingDomain,
  agentsDomain,
];
