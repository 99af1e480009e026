import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it, vi } from "vitest";
import StatusPage from "../pages/StatusPage";

/** The public status page: the product name and the readiness panel. */
function App() {
  return (
    <MemoryRouter>
      <StatusPage />
    </MemoryRouter>
  );
}

function stubFetchJson(body: unknown, status = 200, statusText = "OK") {
  const fetchMock = vi.fn<typeof fetch>(() =>
    Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        statusText,
        headers: { "Content-Type": "application/json" },
      }),
    ),
  );
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

describe("StatusPage readiness panel", () => {
  it("shows the product name and a loading status before readiness arrives", () => {
    vi.stubGlobal("fetch", vi.fn<typeof fetch>(() => new Promise<Response>(() => {})));

    render(<App />);

    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Federated Imputation Platform");
    expect(screen.getByRole("status").textContent).toMatch(/checking readiness/i);
  });

  it("lists each readiness check from GET /readyz with ok/failing", async () => {
    const fetchMock = stubFetchJson({
      status: "ok",
      checks: { database: { ok: true, detail: "connected" }, cache: { ok: true } },
    });

    render(<App />);

    const list = await screen.findByRole("list", { name: "Readiness checks" });
    const items = within(list).getAllByRole("listitem");
    expect(items.map((li) => li.textContent)).toEqual(["database: ok — connected", "cache: ok"]);
    expect(screen.getByRole("status").textContent).toMatch(/ready/);
    expect(fetchMock.mock.calls[0]?.[0]).toBe("/readyz");
  });

  it("renders a 503 readiness report as unavailable rather than as an error", async () => {
    stubFetchJson(
      {
        status: "unavailable",
        checks: { database: { ok: true }, broker: { ok: false, detail: "connection refused" } },
      },
      503,
      "Service Unavailable",
    );

    render(<App />);

    const list = await screen.findByRole("list", { name: "Readiness checks" });
    expect(within(list).getByText("broker").parentElement?.textContent).toBe(
      "broker: failing — connection refused",
    );
    expect(screen.getByRole("status").textContent).toMatch(/unavailable/);
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows an alert carrying the envelope message and request id on failure", async () => {
    stubFetchJson(
      { error: { code: "FORBIDDEN", message: "Not allowed" }, request_id: "req-42" },
      403,
      "Forbidden",
    );

    render(<App />);

    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Not allowed (FORBIDDEN, HTTP 403)");
    expect(alert.textContent).toContain("req-42");
    expect(screen.queryByRole("list")).toBeNull();
  });
});
