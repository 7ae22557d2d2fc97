/**
 * Metrics and health endpoints for stage workers: what other folders use from here.
 */
export {
  createMetrics,
  DEFAULT_METRICS_PORT,
  LLM_LATENCY_BUCKETS,
  METRIC_PREFIX,
} from './metrics.js';
export type {
  CreateMetricsOptions,
  LlmOutcome,
  LlmRequestObservation,
  MetricHandles,
  ScrapeCallback,
  StageRecorder,
  WebscaleMetrics,
} from './metrics.js';
export { startHealthServer } from './health-server.js';
export type { HealthServer, HealthServerOptions, ReadinessReport } from './health-server.js';
