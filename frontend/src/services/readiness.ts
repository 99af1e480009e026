import { apiGateway, isApiError, type ApiGateway } from "./apiGateway";

export interface ReadinessCheck {
  ok: boolean;
  detail?: string;
}

export interface ReadinessReport {
  status: "ok" | "unavailable";
  checks: Record<string, ReadinessCheck>;
}

export function isReadinessReport(value: unknown): value is ReadinessReport {
  if (typeof value !== "object" || value === null) return false;
  const { status, checks } = value as { status?: unknown; checks?: unknown };
  if (status !== "ok" && status !== "unavailable") return false;
  if (typeof checks !== "object" || checks === null) return false;
  return Object.values(checks).every(
    (check) =>
      typeof check === "object" &&
      check !== null &&
      typeof (check as { ok?: unknown }).ok === "boolean",
  );
}

/**
 * GET /readyz. The backend answers 503 with a readiness report (not an error
 * envelope) when a dependency is down; that is a result to show, not a failure.
 */
export async function fetchReadiness(
  options: { signal?: AbortSignal; gateway?: ApiGateway } = {},
): Promise<ReadinessReport> {
  const gateway = options.gateway ?? apiGateway;
  try {
    const body = await gateway.get<unknown>("/readyz", { signal: options.signal });
    if (!isReadinessReport(body)) throw new Error("Unexpected /readyz response shape");
    return body;
  } catch (error) {
    if (isApiError(error) && error.status === 503 && isReadinessReport(error.body)) {
      return error.body;
    }
    throw error;
  }
}
