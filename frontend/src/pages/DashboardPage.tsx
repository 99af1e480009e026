import { Link } from "react-router-dom";
import ErrorAlert from "../components/ErrorAlert";
import StatusBadge from "../components/StatusBadge";
import { useAuth } from "../contexts/AuthContext";
import { useJobStatusEvents, useNotifications } from "../contexts/NotificationContext";
import { useApi } from "../hooks/useApi";
import { JOB_STATUSES, jobService, type DashboardStats } from "../services/jobService";
import { formatDate } from "../utils/format";

interface RecentRow {
  id: string;
  name: string;
  status: string;
  progress: number;
  service: string;
  created_at: string;
}

interface DashboardData {
  stats: DashboardStats | null;
  recent: RecentRow[];
}

async function loadDashboard(signal: AbortSignal): Promise<DashboardData> {
  const stats = await jobService.dashboard(signal);
  if (stats) {
    return {
      stats,
      recent: stats.recent_jobs.map((job) => ({ ...job, service: job.service })),
    };
  }
  // no statistics endpoint on this deployment: the newest jobs from the jobs list
  const page = await jobService.jobs({}, signal);
  return {
    stats: null,
    recent: page.results.slice(0, 5).map((job) => ({
      id: job.id,
      name: job.name,
      status: job.status,
      progress: job.progress,
      service: job.service?.name ?? (job.is_batch ? "Batch" : "—"),
      created_at: job.created_at,
    })),
  };
}

export default function DashboardPage() {
  const { user } = useAuth();
  const { resyncs } = useNotifications();
  const { data, error, loading, setData } = useApi(loadDashboard, [resyncs]);

  useJobStatusEvents((event) => {
    setData((current) =>
      current && {
        ...current,
        recent: current.recent.map((row) =>
          row.id === event.job_id ? { ...row, status: event.status, progress: event.progress ?? row.progress } : row,
        ),
      },
    );
  });

  const stats = data?.stats;
  const total = stats ? Math.max(1, stats.jobs.total) : 1;
  return (
    <section aria-labelledby="dashboard-heading">
      <div className="page-head">
        <h1 id="dashboard-heading">Dashboard</h1>
        <Link className="button primary" to="/jobs/new">
          New job
        </Link>
      </div>
      <p>Welcome{user ? `, ${user.first_name || user.username}` : ""}.</p>
      <ErrorAlert error={error} title="Could not load the dashboard" />
      {loading && !data && <p role="status">Loading…</p>}
      {data && !stats && (
        <p className="notice" role="note">
          Job statistics are not available on this server yet; showing your latest jobs.
        </p>
      )}
      {stats && (
        <>
          <div className="cards">
            <div className="card stat">
              <span className="stat-value">{stats.jobs.total}</span>
              <span className="stat-label">Jobs in total</span>
            </div>
            <div className="card stat">
              <span className="stat-value">{stats.jobs.active}</span>
              <span className="stat-label">Active jobs</span>
            </div>
            <div className="card stat">
              <span className="stat-value">
                {stats.jobs.success_rate === null ? "—" : `${Math.round(stats.jobs.success_rate * 100)}%`}
              </span>
              <span className="stat-label">Success rate</span>
            </div>
            <div className="card stat">
              <span className="stat-value">
                {stats.services.available} / {stats.services.known}
              </span>
              <span className="stat-label">Services healthy</span>
            </div>
          </div>
          <h2>Jobs by status</h2>
          <table className="bars">
            <caption className="sr-only">Number of jobs in each status</caption>
            <tbody>
              {JOB_STATUSES.map((status) => {
                const n = stats.jobs.by_status[status] ?? 0;
                return (
                  <tr key={status}>
                    <th scope="row">
                      <StatusBadge status={status} />
                    </th>
                    <td className="bar-cell">
                      <span className={`bar bar-${status}`} style={{ width: `${(n / total) * 100}%` }} />
                    </td>
                    <td className="num">{n}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
      {data && (
        <>
          <h2>Recent jobs</h2>
          {data.recent.length === 0 ? (
            <p>
              No jobs yet. <Link to="/jobs/new">Start your first job</Link>.
            </p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Service</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {data.recent.map((job) => (
                  <tr key={job.id}>
                    <td>
                      <Link to={`/jobs/${job.id}`}>{job.name}</Link>
                    </td>
                    <td>{job.service}</td>
                    <td>
                      <StatusBadge status={job.status} />
                      {job.status === "running" && <span className="muted"> {job.progress}%</span>}
                    </td>
                    <td>{formatDate(job.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
