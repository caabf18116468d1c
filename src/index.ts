export { createPulse, Pulse, type PulseOptions, type PulseStats } from './create-pulse.js';
export { pulseEventNames, type PulseEvents } from './events/pulse-events.js';
export type { PulseLogger } from './events/logger.js';
export { logPulseEvents } from './events/log-pulse-events.js';
export { logListenerEvents } from './listen/log-listener-events.js';
export type { PulseHealth, WriterHealth } from './health/pulse-health.js';
export type { PostgresHealth } from './health/check-postgres.js';
export { pgpulseMetrics, PgpulseMetrics } from './metrics/pgpulse-metrics.js';
export type { PulseMetricsSource, ListenerMetricsSource, DashboardMetricsSource } from './metrics/metric-sources.js';
export {
  HTTP_SERVER_DURATION_METRIC,
  HTTP_SERVER_DURATION_INSTRUMENT,
  HTTP_SERVER_DURATION_BUCKETS,
  type HttpMetricsOptions,
  type MeterProviderLike,
} from './metrics/http-metrics.js';
export { observeListener, type ObservedListener } from './metrics/listener-metrics.js';
export {
  PubSub,
  type PulseMessage,
  type RequestSentMessage,
  type PulseHandler,
  type SubscribeOptions,
  type IterateOptions,
  type PubSubEvents,
  type PubSubStats,
} from './pubsub.js';
export {
  requestLogSchema,
  parseRequestLog,
  InvalidRequestLogError,
  deviceTypes,
  MAX_TEXT_LENGTH,
  attributeLimits,
  type Attributes,
  type RequestLog,
  type RequestLogInput,
  type StoredRequestLog,
  type DeviceType,
} from './schema/request-log.js';
export { Writer, type WriterOptions } from './writer/writer.js';
export type { WriterStats } from './writer/writer-stats.js';
export type { WriterEvents, DropReason } from './writer/writer-events.js';
export { writerModes, type WriterMode, type PulseWriter } from './writer/pulse-writer.js';
export { migrate, pendingMigrations, migrationsDir, type MigrateOptions, type MigrationResult, type MigrationStep } from './store/migrate.js';
export { MigrationLockError, UnknownMigrationError, type MigrationLockHolder } from './store/migration-errors.js';
export type { CaptureOptions } from './capture/capture-options.js';
export {
  defaultIgnore,
  defaultProbePaths,
  ignoreOptionsRequests,
  type IgnoreRule,
  type IgnoreRequest,
  type IgnoreResponse,
  type IgnoreResponseRule,
} from './capture/ignore.js';
export type { CapturedRequest } from './capture/captured-request.js';
export { attributeDropReasons, type AttributeDropReason, type AttributesFunction, type AttributesInput } from './capture/attributes.js';
export type { SpanLike } from './capture/trace-context.js';
export {
  DEFAULT_CENSOR,
  redactableFields,
  type RedactOptions,
  type RedactFunction,
  type RedactableFields,
  type RedactableField,
  type RedactFieldPath,
  type RedactRequest,
} from './capture/redact-options.js';
export { redactFailReasons, type RedactFailReason } from './capture/redact.js';
export type { TrustProxy } from './capture/trust-proxy.js';
export { defaultCountryHeaders } from './capture/country.js';
export type { NodeMiddleware } from './capture/node-middleware.js';
export { detectDeviceType } from './capture/device-type.js';
export { userAgentInfo, type UserAgentInfo } from './capture/user-agent-info.js';
export type { ConnectionOptions } from './store/connection.js';
export type { PulseDatabase, RequestLogsTable } from './schema/database.js';
export { encodeBridgeMessage, decodeBridgeMessage, DEFAULT_CHANNEL, BRIDGE_MESSAGE_VERSION, type BridgeMessage } from './bridge/message.js';
export { rebuildRollups, type RebuildRollupsOptions, type RebuildRollupsResult } from './store/rebuild-rollups.js';
export { catchUpCube, type CubeBatch, type CubeCatchUpOptions, type CubeCatchUpResult } from './store/cube-catch-up.js';
export { skipCapture, captureSkipped } from './skip-capture.js';
export {
  alertKinds,
  EACH_ROUTE,
  type AlertKind,
  type AlertRule,
  type ErrorRateRule,
  type P95Rule,
  type TrafficDropRule,
  type NoTrafficRule,
  type NewErrorGroupRule,
} from './alerts/alert-rules.js';
export type { AlertOptions, AlertStats } from './alerts/pulse-alerts.js';
export type { AlertWebhook } from './alerts/webhook-options.js';
export type { AlertEvent, AlertState } from './alerts/alert-store.js';
export type { AlertNotifyFailure, AlertNotifierStats } from './alerts/alert-notifier.js';
export type { AlertEvaluatorStats } from './alerts/alert-evaluator.js';
export { webhookHeaders, signWebhook, WEBHOOK_BODY_VERSION, type WebhookBody } from './alerts/alert-message.js';
export { releaseEnvVars, resolveRelease, listReleases, type ReleaseOptions, type ReleaseInfo } from './releases/release.js';
