/** Simulators of the external registration services (tax, warehouse): see server.ts. */
export { startSimulator, type Simulator, type SimulatorOptions, type SimCounters } from "./simulator";
export { DEFAULT_SIM_CONFIG, mergeSimConfig, type SimConfig, type MsRange } from "./simulator-config";
export { RegistrationBook, type BookSummary, type ReceiptCounts, type Registration } from "./simulator-book";
export {
  startSupporterSimulator,
  mergeSupporterSimConfig,
  DEFAULT_SUPPORTER_SIM_CONFIG,
  DeliveryBook,
  type SupporterSimulator,
  type SupporterSimConfig,
  type SupporterSimOptions,
  type SupporterSimCounters,
  type Delivery,
} from "../supporters/simulator";
