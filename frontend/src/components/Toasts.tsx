import { useNotifications } from "../contexts/NotificationContext";

/** Notifications pushed over the socket, shown for a few seconds in a polite live region. */
export default function Toasts() {
  const { toasts, dismissToast } = useNotifications();
  return (
    <div className="toasts" aria-live="polite" aria-label="New notifications">
      {toasts.map((toast) => (
        <div key={toast.id} className="toast">
          <strong>{toast.title}</strong>
          {toast.message && <p>{toast.message}</p>}
          <button type="button" className="link-button" onClick={() => dismissToast(toast.id)}>
            Dismiss
          </button>
        </div>
      ))}
    </div>
  );
}
