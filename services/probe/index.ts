import type { Domain } from "../../node/context";
import { probeKind } from "./probe.actor";

/** The built-in probe actor (end-to-end checks of the runtime; see actors/probe.actor.ts). */
export const probeDomain: Domain = {
  name: "probe",
  kinds: () => [probeKind],
  services: () => [],
};
