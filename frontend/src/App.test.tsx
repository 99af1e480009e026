import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it, vi } from "vitest";
import App from "./App";
import { FakeWebSocket, TEST_USER, jsonResponse } from "./test/fakes";

describe("App", () => {
  it("signs in, lands on the dashboard and shows the unread count, then counts a pushed notification", async () => {
    vi.stubGlobal("WebSocket", FakeWebSocket);
    const fetchMock = vi.fn<typeof fetch>(async (input, init) => {
      const url = String(input);
      if (url === "/api/auth/login/") {
        const body = JSON.parse(String(init?.body)) as { password: string };
        return body.password === "right"
          ? jsonResponse({ access: "acc", refresh: "ref", user: TEST_USER })
          : jsonResponse({ error: { code: "AUTHENTICATION_ERROR", message: "No active account" } }, 401);
      }
      if (url === "/api/auth/user/") return jsonResponse(TEST_USER);
      if (url === "/api/notifications/unread-count/") return jsonResponse({ unread_count: 3 });
      if (url.startsWith("/api/notifications/")) return jsonResponse({ count: 0, next: null, previous: null, results: [] });
      if (url === "/api/dashboard/stats/") return jsonResponse({ error: { code: "NOT_FOUND", message: "Not found." } }, 404);
      if (url.startsWith("/api/jobs/")) return jsonResponse({ count: 0, next: null, previous: null, results: [] });
      return jsonResponse({ error: { code: "NOT_FOUND", message: url } }, 404);
    });
    vi.stubGlobal("fetch", fetchMock);

    render(
      <MemoryRouter initialEntries={["/jobs"]}>
        <App />
      </MemoryRouter>,
    );

    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Username"), { target: { value: "ada" } });
    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "wrong" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("The username or password is not right.");

    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "right" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));

    // back to the page asked for first
    expect(await screen.findByRole("heading", { name: "Jobs" })).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("unread-count").textContent).toBe("3"));
    expect(screen.getByRole("button", { name: "Notifications, 3 unread" })).toBeTruthy();

    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));
    act(() => {
      FakeWebSocket.latest().open();
      FakeWebSocket.latest().receive({
        type: "notification",
        data: { id: 5, type: "job_update", title: "Job completed", message: "chr20 is done", is_read: false },
      });
    });
    expect(screen.getByTestId("unread-count").textContent).toBe("4");
    expect(screen.getByText("Job completed")).toBeTruthy();

    fireEvent.click(screen.getByRole("link", { name: "Dashboard" }));
    expect(await screen.findByText(/Job statistics are not available on this server yet/)).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "Sign out" }));
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
    expect(fetchMock.mock.calls.some(([url]) => url === "/api/auth/logout/")).toBe(true);
    expect(localStorage.getItem("fip.session")).toBeNull();
  });
});
