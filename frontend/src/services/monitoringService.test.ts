import { describe, expect, it, vi } from "vitest";
import { jsonResponse } from "../test/fakes";
import { ApiError, createApiGateway } from "./apiGateway";
import { createMonitoringService } from "./monitoringService";

const EMPTY_PAGE = { count: 0, next: null, previous: null, results: [] };

function setup(respond: (url: string) => Response = () => jsonResponse(EMPTY_PAGE)) {
  const fetchMock = vi.fn<typeof fetch>(async (url) => respond(String(url)));
  return { fetchMock, monitoring: createMonitoringService(createApiGateway({ fetchImpl: fetchMock })) };
}

function calls(fetchMock: ReturnType<typeof setup>["fetchMock"]) {
  return fetchMock.mock.calls.map(([url, init]) => `${init?.method} ${String(url)}`);
}

describe("monitoringService", () => {
  it("reads the health report, and still returns it when a critical verdict answers 503", async () => {
    const critical = {
      status: "critical",
      checked_at: "2026-01-01T10:00:00Z",
      components: [{ name: "redis", status: "down", impact: "critical", detail: "ConnectionError", latency_ms: null }],
    };
    const { fetchMock, monitoring } = setup(() => jsonResponse(critical, 503));

    expect(await monitoring.health()).toEqual(critical);
    expect(calls(fetchMock)).toEqual(["GET /api/monitoring/health/"]);
  });

  it("does not mistake another 503 (the error envelope) for a health report", async () => {
    const { monitoring } = setup(() =>
      jsonResponse({ error: { code: "SERVICE_UNAVAILABLE", message: "Try again shortly." }, request_id: "r1" }, 503),
    );

    const failure = await monitoring.health().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).code).toBe("SERVICE_UNAVAILABLE");
  });

  it("asks for the analytics window as days, or as start and end", async () => {
    const { fetchMock, monitoring } = setup(() => jsonResponse({}));

    await monitoring.analytics({ days: 90 });
    await monitoring.analytics({ start: "2026-01-01", end: "2026-01-31" });
    await monitoring.analytics();

    expect(calls(fetchMock)).toEqual([
      "GET /api/analytics/?days=90",
      "GET /api/analytics/?start=2026-01-01&end=2026-01-31",
      "GET /api/analytics/",
    ]);
  });

  it("lists alerts with filters, and the open ones as firing then acknowledged", async () => {
    const alert = (id: number, status: string) => ({ id, status, title: `Alert ${id}` });
    const { fetchMock, monitoring } = setup((url) => {
      if (url.includes("status=firing")) return jsonResponse({ ...EMPTY_PAGE, count: 1, results: [alert(3, "firing")] });
      if (url.includes("status=acknowledged")) {
        return jsonResponse({ ...EMPTY_PAGE, count: 2, results: [alert(2, "acknowledged"), alert(1, "acknowledged")] });
      }
      return jsonResponse(EMPTY_PAGE);
    });

    await monitoring.alerts({ status: "resolved", rule: "service_down", page: 2 });
    const open = await monitoring.openAlerts();

    expect(calls(fetchMock)).toEqual([
      "GET /api/monitoring/alerts/?status=resolved&rule=service_down&page=2",
      "GET /api/monitoring/alerts/?status=firing&page_size=100",
      "GET /api/monitoring/alerts/?status=acknowledged&page_size=100",
    ]);
    expect(open.count).toBe(3);
    expect(open.results.map((a) => a.id)).toEqual([3, 2, 1]);
  });

  it("acknowledges and resolves an alert with a POST to its own endpoint", async () => {
    const { fetchMock, monitoring } = setup((url) =>
      jsonResponse({ id: 7, status: url.endsWith("/acknowledge/") ? "acknowledged" : "resolved" }),
    );

    expect((await monitoring.acknowledgeAlert(7)).status).toBe("acknowledged");
    expect((await monitoring.resolveAlert(7)).status).toBe("resolved");
    expect(calls(fetchMock)).toEqual([
      "POST /api/monitoring/alerts/7/acknowledge/",
      "POST /api/monitoring/alerts/7/resolve/",
    ]);
  });
});
