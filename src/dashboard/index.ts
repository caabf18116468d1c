export { createDashboard, type Dashboard, type DashboardEvents, type DashboardHandler, type DashboardOptions, type DashboardStats } from './dashboard.js';
export { startDashboardServer, type DashboardServer, type DashboardServerOptions } from './start-dashboard-server.js';
export { queryStats, type QueryStatsOptions } from '../stats/query-stats.js';
export type { Stats, StatsTotals, SeriesPoint, RouteStat, CountStat } from '../stats/stats.js';
export { parseStatsParams, statsParamsSchema, type StatsParams } from '../stats/stats-params.js';
export type { SseHubEvents, SseHubOptions, SseHubStats } from './sse-hub.js';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './start-metrics-server.js';
