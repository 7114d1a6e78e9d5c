/**
 * The gateway domain: see service.ts (its Moleculer services and the domain module).
 */
/** The gateway domain module (services/index.ts lists it). */
export { gatewayDomain } from "./service";
