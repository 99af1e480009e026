import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { useNotifications } from "../contexts/NotificationContext";
import { notificationService, type AppNotification } from "../services/notificationService";
import { formatDate } from "../utils/format";
import { markedRead } from "../utils/notifications";
import ErrorAlert from "./ErrorAlert";

/** The unread count (live over the socket) and, on demand, the latest notifications. */
export default function NotificationBell() {
  const {
    unreadCount,
    connection,
    marking,
    markRead: markReadAnywhere,
    markAllRead: markAllReadAnywhere,
  } = useNotifications();
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<AppNotification[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (!open) return;
    let cancelled = false;
    setError(null);
    notificationService.list({ page_size: 10 }).then(
      (page) => !cancelled && setItems(page.results),
      (failure: unknown) => !cancelled && setError(failure),
    );
    return () => {
      cancelled = true;
    };
  }, [open, unreadCount]);

  async function markRead(item: AppNotification) {
    try {
      await markReadAnywhere(item.id);
      setItems((current) => current && markedRead(current, [item.id]));
    } catch (failure) {
      setError(failure);
    }
  }

  async function markAll() {
    try {
      await markAllReadAnywhere();
      setItems((current) => current && markedRead(current, null));
    } catch (failure) {
      setError(failure);
    }
  }

  const count = unreadCount ?? 0;
  const label = unreadCount === null ? "Notifications" : `Notifications, ${count} unread`;
  return (
    <div className="bell">
      <button
        type="button"
        className="bell-button"
        aria-expanded={open}
        aria-label={label}
        onClick={() => setOpen((v) => !v)}
      >
        <svg className="bell-icon" viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">
          <path
            fill="currentColor"
            d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
          />
        </svg>{" "}
        Notifications
        <span className={`bell-count${count ? " bell-count-unread" : ""}`} data-testid="unread-count">
          {count}
        </span>
      </button>
      <span className="sr-only" aria-live="polite">
        {connection === "open" ? "Live updates on" : "Live updates reconnecting"}
      </span>
      {open && (
        <div className="bell-panel" role="region" aria-label="Latest notifications">
          <div className="bell-panel-head">
            <strong>Notifications</strong>
            <button type="button" className="link-button" onClick={markAll} disabled={count === 0}>
              Mark all as read
            </button>
          </div>
          <ErrorAlert error={error} />
          {items === null && !error && <p role="status">Loading…</p>}
          {items?.length === 0 && <p>No notifications yet.</p>}
          <ul className="bell-list">
            {items?.map((item) => (
              <li key={item.id} className={item.is_read ? "read" : "unread"}>
                <strong>{item.title}</strong> {!item.is_read && <span className="badge badge-new">New</span>}
                {item.message && <p>{item.message}</p>}
                <small className="muted">{formatDate(item.created_at)}</small>
                {!item.is_read && (
                  <button
                    type="button"
                    className="link-button"
                    disabled={marking.has(item.id)}
                    onClick={() => markRead(item)}
                  >
                    Mark as read
                  </button>
                )}
              </li>
            ))}
          </ul>
          <Link className="bell-all" to="/notifications" onClick={() => setOpen(false)}>
            See all notifications
          </Link>
        </div>
      )}
    </div>
  );
}
