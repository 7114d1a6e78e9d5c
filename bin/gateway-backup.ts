/**
 * `npm run gateway:backup`: the light backup gateway. A node that hosts the gateway domain only
 * (routing, authentication, rate limits: no domain services, no actors or jobs) in role
 * "backup": it does not listen while the primary gateway's heartbeat for the same PORT is alive
 * (KV `{ns}_gateway_hb`), takes the port within GATEWAY_HEARTBEAT_TIMEOUT_MS (+ 250 ms) once it
 * stops, and hands it back when the primary writes its heartbeat again (services/gateway/failover.ts).
 * Every other setting is the node's (NAMESPACE, NATS_URL, DATABASE_URL, REDIS_URL, PORT, HOST, ...);
 * bin/start.ts starts it and drains it on SIGTERM / SIGINT.
 */
import "../services/gateway/backup-role";
import "./start";
