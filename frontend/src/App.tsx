import { lazy, Suspense } from "react";
import { Route, Routes } from "react-router-dom";
import Layout from "./components/Layout";
import RequireAuth from "./components/RequireAuth";
import { AuthProvider } from "./contexts/AuthContext";
import { NotificationProvider } from "./contexts/NotificationContext";
import DashboardPage from "./pages/DashboardPage";
import LoginPage from "./pages/LoginPage";
import NotFoundPage from "./pages/NotFoundPage";
import StatusPage from "./pages/StatusPage";

export { PRODUCT_NAME } from "./components/Layout";

// pages behind the first screen load on demand (the upload page brings the tus client)
const ServicesPage = lazy(() => import("./pages/ServicesPage"));
const ServiceDetailPage = lazy(() => import("./pages/ServiceDetailPage"));
const JobsPage = lazy(() => import("./pages/JobsPage"));
const NewJobPage = lazy(() => import("./pages/NewJobPage"));
const JobDetailPage = lazy(() => import("./pages/JobDetailPage"));
const SettingsPage = lazy(() => import("./pages/SettingsPage"));
const NotificationsPage = lazy(() => import("./pages/NotificationsPage"));
const OperationsPage = lazy(() => import("./pages/OperationsPage"));

function Loading() {
  return (
    <p role="status" className="page-loading">
      Loading…
    </p>
  );
}

/** The routes; the router itself comes from main.tsx (BrowserRouter) or a test (MemoryRouter). */
export default function App() {
  return (
    <AuthProvider>
      <NotificationProvider>
        <Suspense fallback={<Loading />}>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route path="/status" element={<StatusPage />} />
            <Route
              element={
                <RequireAuth>
                  <Layout />
                </RequireAuth>
              }
            >
              <Route index element={<DashboardPage />} />
              <Route path="services" element={<ServicesPage />} />
              <Route path="services/:key" element={<ServiceDetailPage />} />
              <Route path="jobs" element={<JobsPage />} />
              <Route path="jobs/new" element={<NewJobPage />} />
              <Route path="jobs/:id" element={<JobDetailPage />} />
              <Route path="settings" element={<SettingsPage />} />
              <Route path="notifications" element={<NotificationsPage />} />
              <Route path="operations" element={<OperationsPage />} />
              <Route path="*" element={<NotFoundPage />} />
            </Route>
          </Routes>
        </Suspense>
      </NotificationProvider>
    </AuthProvider>
  );
}
