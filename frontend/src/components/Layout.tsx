import { Suspense } from "react";
import { NavLink, Outlet, useNavigate } from "react-router-dom";
import { useAuth } from "../contexts/AuthContext";
import { useNotifications } from "../contexts/NotificationContext";
import { isOperator } from "../utils/access";
import NotificationBell from "./NotificationBell";
import Toasts from "./Toasts";

export const PRODUCT_NAME = "Federated Imputation Platform";

/** The signed-in frame: navigation, the notification bell, the user and sign-out. */
export default function Layout() {
  const { user, logout } = useAuth();
  const { connection } = useNotifications();
  const navigate = useNavigate();

  async function signOut() {
    await logout();
    navigate("/login", { replace: true });
  }

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">{PRODUCT_NAME}</span>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Dashboard
          </NavLink>
          <NavLink to="/services">Services</NavLink>
          <NavLink to="/jobs/new">New job</NavLink>
          <NavLink to="/jobs" end>
            Jobs
          </NavLink>
          <NavLink to="/settings">Settings</NavLink>
          {isOperator(user) && <NavLink to="/operations">Operations</NavLink>}
        </nav>
        <div className="topbar-right">
          <span className={`live live-${connection}`} title="Live updates">
            {connection === "open" ? "Live" : connection === "connecting" ? "Connecting…" : "Offline"}
          </span>
          <NotificationBell />
          <span className="user">{user?.username}</span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense
          fallback={
            <p role="status" className="page-loading">
              Loading…
            </p>
          }
        >
          <Outlet />
        </Suspense>
      </main>
      <Toasts />
    </div>
  );
}
