/**
 * The runtime domain: see service.ts (its Moleculer services and the domain module).
 */
/** The runtime domain module (services/index.ts lists it). */
export { runtimeDomain } from "./service";
