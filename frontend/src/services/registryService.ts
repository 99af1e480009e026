/** The registry context: imputation services, their health and reference panels. */

import { apiGateway, type ApiGateway } from "./apiGateway";
import type { Page } from "./types";

export type ApiType = "cloudgene" | "wes" | "dnastack" | "sanger_manual";
export type HealthStatus = "healthy" | "unhealthy" | "timeout" | "unknown";

export const API_TYPES: ApiType[] = ["cloudgene", "wes", "dnastack", "sanger_manual"];
export const HEALTH_STATUSES: HealthStatus[] = ["healthy", "unhealthy", "timeout", "unknown"];

export interface ServiceHealth {
  status: HealthStatus;
  checked_at: string | null;
  response_time_ms: number | null;
  message: string;
}

export interface ImputationService {
  id: number;
  name: string;
  slug: string;
  api_type: ApiType;
  base_url: string;
  description: string;
  location: {
    country: string;
    city: string;
    institution: string;
    lat: number | null;
    lon: number | null;
  };
  requires_auth: boolean;
  max_file_size_mb: number | null;
  supported_formats: string[];
  supported_builds: string[];
  limits: {
    max_jobs: number | null;
    min_samples: number | null;
    max_samples: number | null;
    downloads_per_file: number | null;
    retention_days: number | null;
  };
  is_active: boolean;
  health: ServiceHealth;
  panel_count: number;
}

export interface ServiceDetail extends ImputationService {
  app_id?: string;
  at_risk?: boolean;
  server_info?: unknown;
  server_info_at?: string | null;
  panels_synced_at?: string | null;
}

export interface HealthReport extends ServiceHealth {
  history: ServiceHealth[];
}

export interface ReferencePanel {
  id: number;
  service_id: number;
  slug: string;
  name: string;
  description: string;
  build: string;
  populations: string[];
  samples_count: number | null;
  variants_count: number | null;
  is_available: boolean;
}

export interface ServiceFilters {
  api_type?: string;
  health_status?: string;
  country?: string;
  search?: string;
  page?: number;
}

export function createRegistryService(gateway: ApiGateway = apiGateway) {
  return {
    /** GET /api/services/ (the health filter is `health_status`). */
    services: (filters: ServiceFilters = {}, signal?: AbortSignal) =>
      gateway.get<Page<ImputationService>>("/api/services/", {
        signal,
        query: {
          api_type: filters.api_type || undefined,
          health_status: filters.health_status || undefined,
          country: filters.country || undefined,
          search: filters.search || undefined,
          page: filters.page,
          page_size: 100,
        },
      }),
    service: (idOrSlug: string | number, signal?: AbortSignal) =>
      gateway.get<ServiceDetail>(`/api/services/${encodeURIComponent(String(idOrSlug))}/`, { signal }),
    health: (idOrSlug: string | number, signal?: AbortSignal) =>
      gateway.get<HealthReport>(`/api/services/${encodeURIComponent(String(idOrSlug))}/health/`, { signal }),
    /** GET /api/reference-panels/?service=<id or slug> (every service's panels without one). */
    panels: (service?: string | number, signal?: AbortSignal) =>
      gateway.get<Page<ReferencePanel>>("/api/reference-panels/", {
        signal,
        query: { service: service === "" ? undefined : service, page_size: 100 },
      }),
  };
}

export const registryService = createRegistryService();
