import { defineDomain } from "../../node/domain";
import { probeKind } from "./probe.actor";

/** The built-in probe actor (end-to-end checks of the runtime; see actors/probe.actor.ts). */
export const probeDomain = defineDomain({
  name: "probe",
  summary: "a built-in actor kind that checks a deployment end to end (order, folds, effects, dead letters)",
  declare: () => ({ kinds: [probeKind] }),
  start: () => ({ services: [] }),
});
