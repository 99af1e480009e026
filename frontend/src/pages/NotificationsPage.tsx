import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import ErrorAlert from "../components/ErrorAlert";
import Pagination from "../components/Pagination";
import { useNotificationEvents, useNotifications } from "../contexts/NotificationContext";
import { useApi } from "../hooks/useApi";
import { notificationService, type AppNotification } from "../services/notificationService";
import { formatDate, humanize } from "../utils/format";
import { markedRead } from "../utils/notifications";

const PAGE_SIZE = 20;

/**
 * The caller's notifications, all or unread only, newest first; new ones pushed over the socket join the top of
 * the first page, and marks made here, in the bell or in another tab keep the list and the unread count in step.
 */
export default function NotificationsPage({ service = notificationService }: { service?: typeof notificationService }) {
  const [params, setParams] = useSearchParams();
  const unread = params.get("unread") === "true";
  const page = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const { unreadCount, resyncs, marking, markRead, markAllRead } = useNotifications();
  const [actionError, setActionError] = useState<unknown>(null);

  const { data, error, loading, setData } = useApi(
    (signal) => service.list({ unread: unread || undefined, page, page_size: PAGE_SIZE }, signal),
    [service, unread, page, resyncs],
  );

  useNotificationEvents((event) => {
    if (event.type === "read") {
      setData((current) => current && { ...current, results: markedRead(current.results, event.data.ids) });
      return;
    }
    const pushed = event.data;
    // the newest come first, so only the first page shows it (and the unread view only while it is unread)
    if (page !== 1 || (unread && pushed.is_read)) return;
    setData((current) =>
      !current || current.results.some((item) => item.id === pushed.id)
        ? current
        : { ...current, count: current.count + 1, results: [pushed, ...current.results].slice(0, PAGE_SIZE) },
    );
  });

  /** The view lives in the address (`?unread=true&page=2`), so a reload or a shared link keeps it. */
  function show(unreadOnly: boolean, toPage = 1) {
    const next = new URLSearchParams();
    if (unreadOnly) next.set("unread", "true");
    if (toPage > 1) next.set("page", String(toPage));
    setParams(next, { replace: true });
  }

  /** Marks one notification read, or every one when `item` is null; read items stay listed, shown as read. */
  async function mark(item: AppNotification | null) {
    setActionError(null);
    // only those listed unread now: one pushed while the request is in flight stays unread
    const ids = item ? [item.id] : (data?.results.filter((n) => !n.is_read).map((n) => n.id) ?? []);
    try {
      await (item ? markRead(item.id) : markAllRead());
      setData((current) => current && { ...current, results: markedRead(current.results, ids) });
    } catch (failure) {
      setActionError(failure);
    }
  }

  // marks (here or anywhere) keep read items listed, so the unread view counts with the live count, not the list's
  const shownCount = data && (unread ? (unreadCount ?? data.count) : data.count);

  return (
    <section aria-labelledby="notifications-heading">
      <div className="page-head">
        <h1 id="notifications-heading">Notifications</h1>
        <button type="button" onClick={() => mark(null)} disabled={unreadCount === 0}>
          Mark all as read
        </button>
      </div>
      <div className="segmented" role="group" aria-label="Show">
        <button type="button" aria-pressed={!unread} onClick={() => show(false)}>
          All
        </button>
        <button type="button" aria-pressed={unread} onClick={() => show(true)}>
          Unread
        </button>
      </div>
      <ErrorAlert error={error} title="Could not load your notifications" />
      <ErrorAlert error={actionError} title="Could not mark as read" />
      {loading && !data && <p role="status">Loading notifications…</p>}
      {data && data.results.length === 0 && <p>{unread ? "No unread notifications." : "No notifications yet."}</p>}
      {data && data.results.length > 0 && (
        <>
          <p className="muted" aria-live="polite">
            {shownCount} {unread ? "unread " : ""}notification{shownCount === 1 ? "" : "s"}
          </p>
          <ul className="notification-list">
            {data.results.map((item) => (
              <li key={item.id} className={`card notification ${item.is_read ? "read" : "unread"}`}>
                <div className="notification-head">
                  <strong>{item.title}</strong>
                  {item.is_read ? (
                    <span className="muted">Read</span>
                  ) : (
                    <span className="badge badge-new">Unread</span>
                  )}
                </div>
                {item.message && <p>{item.message}</p>}
                <p className="notification-meta muted">
                  {humanize(item.type)} ·{" "}
                  <span className={`badge badge-priority-${item.priority}`}>
                    {humanize(item.priority)} priority
                  </span>{" "}
                  · <time dateTime={item.created_at}>{formatDate(item.created_at)}</time>
                </p>
                {!item.is_read && (
                  <button
                    type="button"
                    className="link-button"
                    aria-label={`Mark as read: ${item.title}`}
                    disabled={marking.has(item.id)}
                    onClick={() => mark(item)}
                  >
                    Mark as read
                  </button>
                )}
              </li>
            ))}
          </ul>
          <Pagination
            page={page}
            count={data.count}
            pageSize={PAGE_SIZE}
            onPage={(p) => show(unread, p)}
          />
        </>
      )}
    </section>
  );
}
