import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import NotificationBell from "../components/NotificationBell";
import { useNotifications } from "../contexts/NotificationContext";
import type { AppNotification } from "../services/notificationService";
import { FakeWebSocket, fakeNotifications, jsonResponse, renderPage } from "../test/fakes";
import { markedRead } from "../utils/notifications";
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

/** The provider's and the page's service, over `items` (unread ones for ?unread=true) that its marks change. */
function service(items: AppNotification[] = [DONE, FAILED, WELCOME]) {
  let stored = items;
  const unread = () => stored.filter((n) => !n.is_read);
  return {
    ...fakeNotifications(),
    unreadCount: vi.fn(async () => unread().length),
    list: vi.fn(async (query: { unread?: boolean } = {}) => {
      const results = query.unread ? unread() : stored;
      return { count: results.length, next: null, previous: null, results };
    }),
    markRead: vi.fn(async (id: number) => {
      stored = markedRead(stored, [id]);
      return stored.find((n) => n.id === id);
    }),
    markAllRead: vi.fn(async () => {
      const marked = unread().length;
      stored = markedRead(stored, null);
      return { marked };
    }),
  } as ReturnType<typeof fakeNotifications>;
}

/** Leaves calls of `mock` pending: the function returned answers the latest one, when the test says. */
function holdAnswer<T>(mock: { mockImplementation(impl: () => Promise<T>): unknown }): (value: T) => void {
  let answer: (value: T) => void = () => {};
  mock.mockImplementation(() => new Promise<T>((resolve) => (answer = resolve)));
  return (value) => answer(value);
}

/** Calls the context's markRead twice at once, as two places showing the same notification may. */
function MarkTwice({ id }: { id: number }) {
  const { markRead } = useNotifications();
  return (
    <button type="button" onClick={() => void Promise.all([markRead(id), markRead(id)])}>
      Mark twice
    </button>
  );
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
    // not the last call: the notification context's newest-item check (page_size 1) may come after it
    expect(notifications.list).toHaveBeenCalledWith({ unread: true, page: 1, page_size: 20 }, expect.anything());
    expect(screen.getByRole("button", { name: "Unread" }).getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByRole("button", { name: "All" }).getAttribute("aria-pressed")).toBe("false");
    expect(screen.getByText("2 unread notifications")).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "Mark as read: Job completed" }));

    // the read item stays listed, shown as read, but the heading counts it off
    await waitFor(() => expect(screen.getByText("1 unread notification")).toBeTruthy());
    expect(within(item("Job completed")).getByText("Read")).toBeTruthy();
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
    const answer = holdAnswer<AppNotification>(notifications.markRead);
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

  it("marks once and counts off once when Mark as read is clicked twice before the answer", async () => {
    const notifications = service();
    const answer = holdAnswer<AppNotification>(notifications.markRead);
    renderWithBell(notifications);
    await screen.findByText("Job completed");
    await waitFor(() => expect(screen.getByTestId("unread-count").textContent).toBe("2"));

    const button = screen.getByRole("button", { name: "Mark as read: Job completed" }) as HTMLButtonElement;
    fireEvent.click(button);
    expect(button.disabled).toBe(true);
    fireEvent.click(button);
    await act(async () => answer({ ...DONE, is_read: true }));

    expect(notifications.markRead).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("unread-count").textContent).toBe("1");
    expect(within(item("Job completed")).getByText("Read")).toBeTruthy();
  });

  it("shares one request between two marks of the same notification in flight", async () => {
    const notifications = service();
    renderPage(
      <>
        <NotificationBell />
        <MarkTwice id={5} />
      </>,
      { notifications },
    );
    await waitFor(() => expect(screen.getByTestId("unread-count").textContent).toBe("2"));

    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Mark twice" })));

    expect(notifications.markRead).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("unread-count").textContent).toBe("1");
  });

  it("keeps a notification pushed while Mark all as read is in flight in the count", async () => {
    const notifications = service();
    const answer = holdAnswer<{ marked: number }>(notifications.markAllRead);
    renderWithBell(notifications);
    await screen.findByText("Job completed");
    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));
    act(() => FakeWebSocket.latest().open());
    await waitFor(() => expect(screen.getByTestId("unread-count").textContent).toBe("2"));

    fireEvent.click(screen.getByRole("button", { name: "Mark all as read" }));
    act(() => {
      FakeWebSocket.latest().receive({ type: "read", data: { ids: null, all: true, unread_count: 0 } });
      FakeWebSocket.latest().receive({ type: "notification", data: notification(9, "Service down") });
    });
    expect(screen.getByTestId("unread-count").textContent).toBe("1");
    await act(async () => answer({ marked: 2 }));

    expect(screen.getByTestId("unread-count").textContent).toBe("1");
    expect(notifications.unreadCount).toHaveBeenCalledTimes(1); // the socket's count was trusted: no re-ask
    expect(within(item("Service down")).getByText("Unread")).toBeTruthy();
    expect(within(item("Job failed")).getByText("Read")).toBeTruthy();
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
