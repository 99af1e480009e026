import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import Layout from "../components/Layout";
import { ApiError } from "../services/apiGateway";
import type { Alert, AnalyticsReport, HealthReport, MonitoringService } from "../services/monitoringService";
import { TEST_USER, fakeUsers, renderPage } from "../test/fakes";
import OperationsPage from "./OperationsPage";

const HEALTH: HealthReport = {
  status: "degraded",
  checked_at: "2026-01-01T10:00:00Z",
  components: [
    { name: "database.jobs", status: "ok", impact: "critical", detail: "postgresql", latency_ms: 1.25, data: {} },
    {
      name: "services",
      status: "degraded",
      impact: "degraded",
      detail: "1 of 3 down: topmed",
      latency_ms: null,
      data: {},
    },
  ],
};

const FIRING: Alert = {
  id: 11,
  rule: "service_down",
  fingerprint: "service_down:service:4",
  severity: "warning",
  status: "firing",
  title: "TOPMed has been down for over 15 min",
  message: "TOPMed has answered health checks with timeout.",
  details: { service_id: 4 },
  opened_at: "2026-01-01T09:00:00Z",
  last_seen_at: "2026-01-01T10:00:00Z",
  notified_at: "2026-01-01T09:00:01Z",
  acknowledged_at: null,
  acknowledged_by: null,
  resolved_at: null,
  resolved_by: null,
  resolution: null,
};

const BY_STATUS = { pending: 0, queued: 1, running: 1, completed: 8, failed: 2, cancelled: 0 };
const ANALYTICS: AnalyticsReport = {
  window: { start: "2025-12-03", end: "2026-01-01", days: 30 },
  totals: { jobs: 12, by_status: BY_STATUS, success_rate: 0.8 },
  jobs_per_service_per_day: [],
  services: [
    {
      service_id: 2,
      service: "local-node",
      total: 12,
      by_status: BY_STATUS,
      success_rate: 0.8,
      duration: { completed: 8, avg_seconds: 90, max_seconds: 3725 },
    },
  ],
  durations: { completed: 8, avg_seconds: 90, max_seconds: 3725, p50_seconds: 75, p95_seconds: 540 },
  queue: { started: 10, avg_seconds: 12.4 },
  failure_categories: [{ category: "remote_error", count: 2 }],
};

function monitoring(overrides: Partial<MonitoringService> = {}) {
  const page = (results: Alert[]) => ({ count: results.length, next: null, previous: null, results });
  return {
    health: vi.fn(async () => HEALTH),
    alerts: vi.fn(async () => page([FIRING, { ...FIRING, id: 3, status: "resolved", title: "Old alert" } as Alert])),
    openAlerts: vi.fn(async () => page([FIRING])),
    acknowledgeAlert: vi.fn(
      async (id: number): Promise<Alert> => ({ ...FIRING, id, status: "acknowledged", acknowledged_at: "2026-01-01T10:05:00Z" }),
    ),
    resolveAlert: vi.fn(),
    analytics: vi.fn(async () => ANALYTICS),
    ...overrides,
  } satisfies MonitoringService;
}

const operator = () => fakeUsers({ currentUser: vi.fn(async () => ({ ...TEST_USER, role: "service_admin" })) });

function renderOperations(service: MonitoringService, users = operator()) {
  return renderPage(<OperationsPage service={service} />, { route: "/operations", path: "/operations", users });
}

function row(text: string): HTMLElement {
  return screen.getByText(text).closest("tr")!;
}

/** The value shown under a key figure's label. */
function figure(label: string): string | null | undefined {
  return screen.getAllByText(label).find((el) => el.tagName === "DT")?.nextElementSibling?.textContent;
}

describe("OperationsPage", () => {
  it("shows the health verdict and each component's status, impact, detail and latency", async () => {
    renderOperations(monitoring());

    const database = (await screen.findByText("database.jobs")).closest("tr")!;
    expect(within(database).getByText("OK")).toBeTruthy();
    expect(within(database).getByText("Critical")).toBeTruthy();
    expect(within(database).getByText("postgresql")).toBeTruthy();
    expect(within(database).getByText("1.25 ms")).toBeTruthy();
    const services = row("services");
    expect(within(services).getByText("1 of 3 down: topmed")).toBeTruthy();
    expect(within(services).getByText("—")).toBeTruthy();
    expect(screen.getByText(/^Overall/).textContent).toContain("Degraded");
  });

  it("shows the analytics figures and asks again for another window", async () => {
    const service = monitoring();
    renderOperations(service);

    await screen.findByText("Median duration (p50)");
    expect(figure("Jobs submitted")).toBe("12");
    expect(figure("Success rate")).toBe("80%");
    expect(figure("Median duration (p50)")).toBe("1 min 15 s");
    expect(figure("Duration, 95th percentile")).toBe("9 min 0 s");
    expect(figure("Average queue time")).toBe("12 s");
    const node = within(row("local-node")).getAllByRole("cell").map((cell) => cell.textContent);
    expect(node).toEqual(["12", "80%", "1 min 30 s", "1 h 2 min"]);
    expect(within(row("Remote error")).getByText("2")).toBeTruthy();
    const completed = screen.getAllByText("Completed").find((el) => el.closest("tr"))!.closest("tr")!;
    expect(within(completed).getByText("8")).toBeTruthy();
    // the share bar only repeats the number: hidden, with its percentage said instead
    expect(within(completed).getByText("67%").className).toBe("sr-only");
    expect(completed.querySelector(".bar")!.getAttribute("aria-hidden")).toBe("true");
    expect(service.analytics).toHaveBeenCalledWith({ days: 30 }, expect.anything());

    fireEvent.change(screen.getByLabelText("Window"), { target: { value: "90" } });

    await waitFor(() => expect(service.analytics).toHaveBeenLastCalledWith({ days: 90 }, expect.anything()));
  });

  it("acknowledges an alert and updates its row; shows resolved ones on demand", async () => {
    const service = monitoring();
    renderOperations(service);

    const alert = (await screen.findByText(FIRING.title)).closest("tr")!;
    expect(within(alert).getByText("Firing")).toBeTruthy();
    expect(screen.getByRole("table", { name: "Open alerts" })).toBeTruthy();
    expect(screen.getByText("1 open alert")).toBeTruthy();
    fireEvent.click(within(alert).getByRole("button", { name: `Acknowledge: ${FIRING.title}` }));

    await waitFor(() => expect(within(alert).getByText("Acknowledged")).toBeTruthy());
    expect(service.acknowledgeAlert).toHaveBeenCalledWith(11);
    expect(within(alert).queryByRole("button", { name: /Acknowledge/ })).toBeNull();
    expect(within(alert).getByRole("button", { name: `Resolve: ${FIRING.title}` })).toBeTruthy();
    expect(screen.queryByText("Old alert")).toBeNull();

    fireEvent.click(screen.getByLabelText("Show resolved alerts"));

    expect(await screen.findByText("Old alert")).toBeTruthy();
    expect(service.alerts).toHaveBeenCalledWith({ page: 1 }, expect.anything());
  });

  it("counts an alert resolved here off the open ones, keeping its row shown as resolved", async () => {
    const resolveAlert = vi.fn(async (id: number): Promise<Alert> => ({ ...FIRING, id, status: "resolved" }));
    renderOperations(monitoring({ resolveAlert }));

    const alert = (await screen.findByText(FIRING.title)).closest("tr")!;
    expect(screen.getByText("1 open alert")).toBeTruthy();
    fireEvent.click(within(alert).getByRole("button", { name: `Resolve: ${FIRING.title}` }));

    await waitFor(() => expect(screen.getByText("0 open alerts")).toBeTruthy());
    expect(within(alert).getByText("Resolved")).toBeTruthy();
    expect(resolveAlert).toHaveBeenCalledWith(11);
  });

  it("shows the API's error when an alert cannot be changed, and leaves the row as it was", async () => {
    const conflict = new ApiError({ status: 409, code: "CONFLICT", message: "This alert is already resolved." });
    renderOperations(monitoring({ acknowledgeAlert: vi.fn(async () => Promise.reject(conflict)) }));

    const alert = (await screen.findByText(FIRING.title)).closest("tr")!;
    fireEvent.click(within(alert).getByRole("button", { name: `Acknowledge: ${FIRING.title}` }));

    expect((await screen.findByRole("alert")).textContent).toContain("This alert is already resolved.");
    expect(within(alert).getByText("Firing")).toBeTruthy();
  });

  it("tells a non-operator the page is for operators only, and asks the API nothing", async () => {
    const service = monitoring();
    const users = fakeUsers();
    renderOperations(service, users);

    expect(await screen.findByText(/for operators only/)).toBeTruthy();
    expect(users.currentUser).toHaveBeenCalled();
    expect(screen.queryByRole("heading", { name: "Health" })).toBeNull();
    for (const method of Object.values(service)) expect(method).not.toHaveBeenCalled();
  });

  it("links to itself from the navigation for operators only", async () => {
    const { unmount } = renderPage(<Layout />, { users: operator() });
    expect(await screen.findByRole("link", { name: "Operations" })).toBeTruthy();
    unmount();

    const users = fakeUsers();
    renderPage(<Layout />, { users });
    await waitFor(() => expect(screen.getByText(TEST_USER.username)).toBeTruthy());
    expect(screen.getByRole("link", { name: "Jobs" })).toBeTruthy();
    expect(screen.queryByRole("link", { name: "Operations" })).toBeNull();
  });
});
