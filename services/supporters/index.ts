/**
 * The supporters domain: see service.ts (its Moleculer services and the domain module).
 */
/** The supporters domain module (services/index.ts lists it). */
export { supportersDomain } from "./service";
