import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import NotificationBell from "../components/NotificationBell";
import type { AppNotification } from "../services/notificationService";
import { FakeWebSocket, fakeNotifications, jsonResponse, renderPage } from "../test/fakes";
import NotificationsPage from "./NotificationsPage";

function notification(id: number, title: string, changes: Partial<AppNotification> = {}): AppNotification {
  return {
    id,
    type: "job_update",
    title,
    message: `${title} message`,
    data: {},
    priority: "normal",
    created_at: "2026-01-01T10:00:00Z",
    read_at: null,
    is_read: false,
    ...changes,
  };
}

const DONE = notification(5, "Job completed", { priority: "high" });
const FAILED = notification(4, "Job failed");
const WELCOME = notification(1, "Welcome", { type: "system", is_read: true, read_at: "2026-01-01T09:00:00Z" });

/** The provider's and the page's service: lists from `items` (unread ones for ?unread=true), marks succeed. */
function service(items: AppNotification[] = [DONE, FAILED, WELCOME], unread = 2) {
  return {
    ...fakeNotifications(unread),
    list: vi.fn(async (query: { unread?: boolean } = {}) => {
      const results = query.unread ? items.filter((n) => !n.is_read) : items;
      return { count: results.length, next: null, previous: null, results };
    }),
    markRead: vi.fn(async (id: number) => ({ ...items.find((n) => n.id === id), is_read: true })),
  } as ReturnType<typeof fakeNotifications>;
}

function item(title: string): HTMLElement {
  return screen.getByText(title).closest("li")!;
}

function renderWithBell(notifications: ReturnType<typeof service>) {
  return renderPage(
    <>
      <NotificationBell />
      <NotificationsPage service={notifications as never} />
    </>,
    { route: "/notifications", path: "/notifications", notifications },
  );
}

describe("NotificationsPage", () => {
  it("lists the notifications with their type, priority and read state, and filters to unread ones", async () => {
    const notifications = service();
    renderPage(<NotificationsPage service={notifications as never} />, {
      route: "/notifications",
      path: "/notifications",
      notifications,
    });

    await screen.findByText("Job completed");
    expect(notifications.list).toHaveBeenCalledWith({ unread: undefined, page: 1, page_size: 20 }, expect.anything());
    expect(within(item("Job completed")).getByText("Unread")).toBeTruthy();
    expect(within(item("Job completed")).getByText("High priority")).toBeTruthy();
    expect(within(item("Job completed")).getByText(/Job update/)).toBeTruthy();
    expect(within(item("Welcome")).getByText("Read")).toBeTruthy();
    expect(within(item("Welcome")).queryByRole("button", { name: /Mark as read/ })).toBeNull();
    expect(screen.getByText("3 notifications")).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "Unread" }));

    await waitFor(() => expect(screen.queryByText("Welcome")).toBeNull());
    expect(notifications.list).toHaveBeenLastCalledWith({ unread: true, page: 1, page_size: 20 }, expect.anything());
    expect(screen.getByRole("button", { name: "Unread" }).getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByRole("button", { name: "All" }).getAttribute("aria-pressed")).toBe("false");
    expect(screen.getByText("2 unread notifications")).toBeTruthy();
  });

  it("marks one and then all as read, updating the items and the bell's unread count", async () => {
    const notifications = service();
    renderWithBell(notifications);
    await screen.findByText("Job completed");
    await waitFor(() => expect(screen.getByTestId("unread-count").textContent).toBe("2"));

    fireEvent.click(screen.getByRole("button", { name: "Mark as read: Job completed" }));

    await waitFor(() => expect(within(item("Job completed")).getByText("Read")).toBeTruthy());
    expect(notifications.markRead).toHaveBeenCalledWith(5);
    expect(screen.getByTestId("unread-count").textContent).toBe("1");
    expect(within(item("Job failed")).getByText("Unread")).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "Mark all as read" }));

    await waitFor(() => expect(screen.getByTestId("unread-count").textContent).toBe("0"));
    expect(notifications.markAllRead).toHaveBeenCalledTimes(1);
    expect(within(item("Job failed")).getByText("Read")).toBeTruthy();
    expect(screen.queryByRole("button", { name: /Mark as read/ })).toBeNull();
    expect((screen.getByRole("button", { name: "Mark all as read" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("puts a notification pushed over the socket on top, and follows reads made in another tab", async () => {
    const notifications = service();
    renderWithBell(notifications);
    await screen.findByText("Job completed");
    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));

    act(() => {
      FakeWebSocket.latest().open();
      FakeWebSocket.latest().receive({
        type: "notification",
        data: notification(9, "Service down", { type: "service_alert" }),
      });
    });

    const titles = within(screen.getByRole("list"))
      .getAllByRole("listitem")
      .map((li) => li.querySelector("strong")?.textContent);
    expect(titles).toEqual(["Service down", "Job completed", "Job failed", "Welcome"]);
    expect(screen.getByText("4 notifications")).toBeTruthy();
    expect(screen.getByTestId("unread-count").textContent).toBe("3");
    expect(notifications.list).toHaveBeenCalledTimes(2); // the provider's newest id, then the page: no reload

    act(() => {
      FakeWebSocket.latest().receive({ type: "read", data: { ids: [5, 9], all: false, unread_count: 1 } });
    });

    expect(within(item("Service down")).getByText("Read")).toBeTruthy();
    expect(within(item("Job completed")).getByText("Read")).toBeTruthy();
    expect(within(item("Job failed")).getByText("Unread")).toBeTruthy();
    expect(screen.getByTestId("unread-count").textContent).toBe("1");
  });

  it("counts a read off once when the server's read message arrives before the API's answer", async () => {
    const notifications = service();
    let answer: (value: AppNotification) => void = () => {};
    notifications.markRead.mockImplementation(() => new Promise((resolve) => (answer = resolve)));
    renderWithBell(notifications);
    await screen.findByText("Job completed");
    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));
    act(() => FakeWebSocket.latest().open());

    fireEvent.click(screen.getByRole("button", { name: "Mark as read: Job completed" }));
    act(() => FakeWebSocket.latest().receive({ type: "read", data: { ids: [5], all: false, unread_count: 1 } }));
    await act(async () => answer({ ...DONE, is_read: true }));

    expect(screen.getByTestId("unread-count").textContent).toBe("1");
    expect(within(item("Job completed")).getByText("Read")).toBeTruthy();
  });

  it("is reached from the bell's panel", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => jsonResponse({ count: 1, next: null, previous: null, results: [DONE] })));
    const notifications = service();
    renderPage(<NotificationBell />, {
      notifications,
      extraRoutes: [{ path: "/notifications", element: <NotificationsPage service={notifications as never} /> }],
    });

    fireEvent.click(await screen.findByRole("button", { name: /^Notifications/ }));
    fireEvent.click(await screen.findByRole("link", { name: "See all notifications" }));

    expect(await screen.findByRole("heading", { name: "Notifications", level: 1 })).toBeTruthy();
    expect(screen.queryByRole("region", { name: "Latest notifications" })).toBeNull();
  });
});
