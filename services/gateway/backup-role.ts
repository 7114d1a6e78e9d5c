/**
 * Imported first by bin/gateway-backup.ts: makes the node that bin/start.ts starts next a backup
 * gateway (role backup, the gateway domain only, no workers). Imports run in order, so this
 * module's side effect lands before the configuration is read.
 */
process.env["GATEWAY_ROLE"] = "backup";
process.env["SERVICES"] = "gateway";
process.env["WORKERS"] = "off";
process.env["NODE_ID"] ??= `gateway-backup-${process.pid}`;

export {};
