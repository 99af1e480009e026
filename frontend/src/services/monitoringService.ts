/**
 * The monitoring context for operators: platform health, the alerts, and the job analytics.
 *
 * Health is open to everyone but only operators (the `view_all_jobs` capability) get each component's detail and
 * latency; analytics and alerts answer 403 to anyone else.
 */

import { apiGateway, isApiError, type ApiGateway } from "./apiGateway";
import type { JobStatus } from "./jobService";
import type { Page } from "./types";

export type HealthVerdict = "healthy" | "degraded" | "critical";
export type ComponentStatus = "ok" | "degraded" | "down";

export interface HealthComponent {
  /** e.g. "database.jobs", "redis", "workers", "storage", "events", "services", "deployable.files" */
  name: string;
  status: ComponentStatus;
  /** What this component being down does to the whole. */
  impact: "critical" | "degraded";
  /** The fields below come to operators only. */
  detail?: string;
  latency_ms?: number | null;
  data?: Record<string, unknown>;
}

export interface HealthReport {
  status: HealthVerdict;
  checked_at: string;
  /** Absent for anonymous callers. */
  components?: HealthComponent[];
}

export type AlertStatus = "firing" | "acknowledged" | "resolved";
export const OPEN_ALERT_STATUSES: AlertStatus[] = ["firing", "acknowledged"];

export interface Alert {
  id: number;
  rule: "service_down" | "job_failure_rate" | "event_backlog" | "worker_missing";
  fingerprint: string;
  severity: "warning" | "critical";
  status: AlertStatus;
  title: string;
  message: string;
  details: Record<string, unknown>;
  opened_at: string;
  last_seen_at: string;
  notified_at: string | null;
  acknowledged_at: string | null;
  /** User ids. */
  acknowledged_by: number | null;
  resolved_at: string | null;
  resolved_by: number | null;
  /** "automatic" once the condition cleared by itself, "manual" when an operator resolved it. */
  resolution: "automatic" | "manual" | null;
}

export interface AlertQuery {
  status?: AlertStatus;
  rule?: Alert["rule"];
  page?: number;
  page_size?: number;
}

export interface DurationFigures {
  /** Completed jobs with a run time. */
  completed: number;
  avg_seconds: number | null;
  max_seconds: number | null;
}

export interface ServiceAnalytics {
  service_id: number;
  /** The service's slug, or its id when the registry never announced it. */
  service: string;
  total: number;
  by_status: Record<JobStatus, number>;
  success_rate: number | null;
  duration: DurationFigures;
}

export type DayAnalytics = {
  date: string;
  service_id: number;
  service: string;
  total: number;
} & Record<JobStatus, number>;

/** GET /api/analytics/: jobs submitted inside the window (UTC days, both ends included); batch parents left out. */
export interface AnalyticsReport {
  window: { start: string; end: string; days: number };
  totals: { jobs: number; by_status: Record<JobStatus, number>; success_rate: number | null };
  jobs_per_service_per_day: DayAnalytics[];
  services: ServiceAnalytics[];
  durations: DurationFigures & { p50_seconds: number | null; p95_seconds: number | null };
  queue: { started: number; avg_seconds: number | null };
  failure_categories: { category: string; count: number }[];
}

/** The last `days` days up to `end` (today by default), or from `start`; at most 366 days. */
export interface AnalyticsWindow {
  days?: number;
  start?: string;
  end?: string;
}

const MAX_PAGE_SIZE = 100;

function isHealthReport(value: unknown): value is HealthReport {
  return typeof value === "object" && value !== null && typeof (value as { status?: unknown }).status === "string";
}

export function createMonitoringService(gateway: ApiGateway = apiGateway) {
  const alerts = (query: AlertQuery = {}, signal?: AbortSignal) =>
    gateway.get<Page<Alert>>("/api/monitoring/alerts/", { signal, query: { ...query } });
  const alertChange = (id: number, change: "acknowledge" | "resolve") =>
    gateway.post<Alert>(`/api/monitoring/alerts/${id}/${change}/`);

  return {
    /** GET /api/monitoring/health/; a critical verdict answers 503 with the same report, returned here too. */
    async health(signal?: AbortSignal): Promise<HealthReport> {
      try {
        return await gateway.get<HealthReport>("/api/monitoring/health/", { signal });
      } catch (error) {
        if (isApiError(error) && error.status === 503 && isHealthReport(error.body)) return error.body;
        throw error;
      }
    },

    alerts,

    /**
     * The open alerts (firing first, then acknowledged, newest first in each, as the API orders them): the API
     * filters on one status at a time. Alerts are deduplicated per rule and subject, so 100 of each is plenty.
     */
    async openAlerts(signal?: AbortSignal): Promise<Page<Alert>> {
      const pages = await Promise.all(
        OPEN_ALERT_STATUSES.map((status) => alerts({ status, page_size: MAX_PAGE_SIZE }, signal)),
      );
      return {
        count: pages.reduce((sum, page) => sum + page.count, 0),
        next: null,
        previous: null,
        results: pages.flatMap((page) => page.results),
      };
    },

    /** Firing -> acknowledged; 409 CONFLICT for a resolved alert. */
    acknowledgeAlert: (id: number) => alertChange(id, "acknowledge"),
    /** Firing or acknowledged -> resolved (idempotent). */
    resolveAlert: (id: number) => alertChange(id, "resolve"),

    analytics: (window: AnalyticsWindow = {}, signal?: AbortSignal) =>
      gateway.get<AnalyticsReport>("/api/analytics/", { signal, query: { ...window } }),
  };
}

export const monitoringService = createMonitoringService();
export type MonitoringService = ReturnType<typeof createMonitoringService>;
