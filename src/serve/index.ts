/**
 * `routecore/serve`: the OpenAI-compatible routing gateway as a library (what `routecore serve`
 * runs), for embedding it in your own process or tests. Loads fastify, and ioredis when Redis is
 * configured; the main `routecore` entry point loads neither.
 * @module
 */
export { Gateway, modelAllowed } from './gateway.js';
export type { GatewayOptions } from './gateway.js';
export { resolveServeConfig, keysFromEnv, hashKey, DEFAULT_BODY_LIMIT_BYTES, DEFAULT_DRAIN_MS, DEFAULT_PORT } from './config.js';
export type { ServeConfig, ServeFlags, ClientKey, LogConfig, UpstreamConfig } from './config.js';
export { openGatewayLog, JsonlLog, SqliteLog, NullLog } from './outcome-log.js';
/** @deprecated The old name of {@link openGatewayLog}. */
export { openGatewayLog as openOutcomeLog } from './outcome-log.js';
export type { GatewayLog, LogRow } from './outcome-log.js';
/** @deprecated The old name of {@link GatewayLog}. */
export type { GatewayLog as GatewayOutcomeLog } from './outcome-log.js';
export { exportRecords, writeExport } from './log-export.js';
export type { ExportFormat, ExportSummary } from './log-export.js';
export { RedisState } from '../state/redis.js';
export type { RedisStateOptions } from '../state/redis.js';
