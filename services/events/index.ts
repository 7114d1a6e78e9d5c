/**
 * The events domain's public surface: what services, tools and tests may use.
 */
/** The events domain module (services/index.ts lists it). */
export { eventsDomain } from "./service";
export * from "./model";
export { ENVELOPE_SCHEMA, MAX_BATCH_EVENTS, TYPE_NAME_PATTERN, EVENT_ID_PATTERN, CLIENT_ID_PATTERN, decodeEnvelope, validateEnvelope } from "./envelope";
export { EventTypeRegistry, checkTypeDefinition, typeKey, parseTypeKey, type EventTypeVersion, type EventTypeInfo } from "./registry";
export { FairScheduler, type Grant, type SchedulerOptions } from "./scheduler";
export { DataKeyring, DecryptError, rowAad } from "./crypto";
export { encodeCursor, decodeCursor, START, type FeedPosition } from "./cursor";
export { createEventStore, eventMigrations, type EventStore, type EventRow, type StoredRef, type StoredRow } from "./store";
export { TypeStore, type TypeDefinition } from "./types-store";
export { EventProcessor, isTransientStoreError, type ProcessorStats, type TenantStats } from "./processor";
export { DlqMonitor, DLQ_DEPTH_METRIC, type DlqAlarm } from "./alarms";
export { LatencyHistogram } from "../../lib/histogram";
export { createEventsApi, MAX_FEED_PAGE, type EventsApi, type FeedPage, type IngestResult, type EventDeadLetter } from "./api";
export { eventRoutes } from "./routes";
