/**
 * The runtime domain module: the actor runtime's operator surface on every node (partitions,
 * resident actors, consumer counters, dead letters), as the `runtime` service (service.ts).
 */
import { defineDomain } from "../../node/domain";
import { runtimeService } from "./service";

/** The runtime domain (services/index.ts lists it). */
export const runtimeDomain = defineDomain({
  name: "runtime",
  summary: "the actor runtime's operator surface on every node: partitions, resident actors, streams, dead letters",
  declare: () => ({}),
  start: (ctx) => ({ services: [runtimeService(ctx)] }),
});
