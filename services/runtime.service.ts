import type { Domain } from "../node/context";

/** The actor runtime's operator surface (partitions, actors, streams, DLQ). */
export const runtimeDomain: Domain = {
  name: "runtime",
  services: () => [],
};
