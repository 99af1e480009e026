/** The jobs context (plus the dashboard's statistics from monitoring). */

import { apiGateway, isApiError, type ApiGateway } from "./apiGateway";
import type { Page } from "./types";

export type JobStatus = "pending" | "queued" | "running" | "completed" | "failed" | "cancelled";
export type JobStage = "queued" | "submitting" | "submitted" | "running" | "exporting" | "downloading" | "done";
export type Phasing = "eagle" | "beagle" | "no_phasing";
export type Mode = "imputation" | "qc_only";

export const JOB_STATUSES: JobStatus[] = ["pending", "queued", "running", "completed", "failed", "cancelled"];
export const ACTIVE_STATUSES: ReadonlySet<string> = new Set(["pending", "queued", "running"]);

export interface Ref {
  id: number;
  name: string;
  slug: string;
}

export interface ResultFile {
  file_id: number;
  name: string;
  result_type: string | null;
  size: number | null;
  sha256: string | null;
}

export interface Job {
  id: string;
  name: string;
  description: string;
  user_id: number;
  service: Ref | null;
  reference_panel: Ref | null;
  parent_id: string | null;
  is_batch: boolean;
  status: JobStatus;
  stage: JobStage;
  progress: number;
  message: string;
  queue_position: number | null;
  external_job_id: string | null;
  build: string;
  phasing: Phasing;
  population: string;
  mode: Mode;
  r2_filter: number;
  input_format: string;
  input_files: number[];
  result_files: ResultFile[];
  error: { category: string; message: string } | null;
  auth_paused: boolean;
  auth_message: string | null;
  cancel_requested: boolean;
  attempt: number;
  retry_of: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  duration_seconds: number | null;
  retire_at: string | null;
}

export interface JobDetail extends Job {
  qc_summary: Record<string, unknown> | null;
  remote_state?: unknown;
  children?: Job[];
}

export interface StatusUpdate {
  status: JobStatus;
  stage: JobStage;
  progress: number;
  message: string;
  timestamp: string;
}

export interface LogLine {
  step: string;
  index: number;
  level: string;
  message: string;
  time: string | null;
  url: string | null;
}

/** The settings a job is submitted with (one target, or several through /batch/). */
export interface JobSettings {
  name: string;
  description?: string;
  input_files: number[];
  build: "hg19" | "hg38";
  phasing: Phasing;
  population: string;
  mode: Mode;
  r2_filter: number;
  input_format?: string;
}

export interface Target {
  service: number | string;
  reference_panel: number | string;
}

export interface JobFilters {
  status?: string;
  search?: string;
  page?: number;
  parent?: string;
}

export interface RecentJob {
  id: string;
  name: string;
  status: JobStatus;
  stage: JobStage;
  progress: number;
  service_id: number | null;
  service: string;
  parent_id: string | null;
  failure_category: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface DashboardStats {
  jobs: { total: number; active: number; by_status: Record<string, number>; success_rate: number | null };
  recent_jobs: RecentJob[];
  services: { known: number; available: number; accessible: number | null };
}

/** A new random key for the Idempotency-Key header. */
export function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

const MAX_PAGES = 20;

/** Every page of a list endpoint (100 a page, at most MAX_PAGES), as one page. */
async function allPages<T>(gateway: ApiGateway, path: string, signal?: AbortSignal): Promise<Page<T>> {
  const results: T[] = [];
  let count = 0;
  for (let page = 1; page <= MAX_PAGES; page += 1) {
    const current = await gateway.get<Page<T>>(path, { signal, query: { page_size: 100, page } });
    results.push(...current.results);
    count = current.count;
    if (!current.next) break;
  }
  return { count, next: null, previous: null, results };
}

export function createJobService(gateway: ApiGateway = apiGateway) {
  return {
    jobs: (filters: JobFilters = {}, signal?: AbortSignal) =>
      gateway.get<Page<Job>>("/api/jobs/", {
        signal,
        query: {
          status: filters.status || undefined,
          search: filters.search || undefined,
          parent: filters.parent || undefined,
          page: filters.page && filters.page > 1 ? filters.page : undefined,
        },
      }),
    job: (id: string, signal?: AbortSignal) => gateway.get<JobDetail>(`/api/jobs/${encodeURIComponent(id)}/`, { signal }),
    /** The whole status history (every page, oldest first as the API lists it). */
    history: (id: string, signal?: AbortSignal) =>
      allPages<StatusUpdate>(gateway, `/api/jobs/${encodeURIComponent(id)}/status/`, signal),
    /** The remote step logs, every page up to MAX_PAGES of 100 lines. */
    logs: (id: string, signal?: AbortSignal) =>
      allPages<LogLine>(gateway, `/api/jobs/${encodeURIComponent(id)}/logs/`, signal),
    cancel: (id: string) => gateway.post<JobDetail>(`/api/jobs/${encodeURIComponent(id)}/cancel/`),
    /** POST /retry/: the new job (a fresh attempt with its own id). */
    retry: (id: string) => gateway.post<JobDetail>(`/api/jobs/${encodeURIComponent(id)}/retry/`),

    /**
     * POST /api/jobs/ for one target, POST /api/jobs/batch/ for several; the same idempotency key returns the
     * job the first request created instead of a second one.
     */
    submit(settings: JobSettings, targets: Target[], idempotencyKey: string): Promise<Job> {
      const headers = { "Idempotency-Key": idempotencyKey };
      const [only] = targets;
      if (targets.length === 1 && only) {
        return gateway.post<Job>(
          "/api/jobs/",
          { ...settings, service: only.service, reference_panel: only.reference_panel },
          { headers },
        );
      }
      return gateway.post<Job>("/api/jobs/batch/", { ...settings, targets }, { headers });
    },

    /** GET /api/dashboard/stats/, or null when this deployment has no such endpoint yet (404). */
    async dashboard(signal?: AbortSignal): Promise<DashboardStats | null> {
      try {
        return await gateway.get<DashboardStats>("/api/dashboard/stats/", { signal });
      } catch (error) {
        if (isApiError(error) && error.status === 404) return null;
        throw error;
      }
    },
  };
}

export const jobService = createJobService();
export type JobService = ReturnType<typeof createJobService>;
