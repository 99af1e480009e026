import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import ErrorAlert from "../components/ErrorAlert";
import Pagination from "../components/Pagination";
import StatusBadge from "../components/StatusBadge";
import { useJobStatusEvents, useNotifications } from "../contexts/NotificationContext";
import { useApi } from "../hooks/useApi";
import { JOB_STATUSES, jobService, type JobService } from "../services/jobService";
import { formatDate, humanize } from "../utils/format";

/** The caller's jobs, filtered by status and a search, with statuses kept live by `job.status` messages. */
export default function JobsPage({ service = jobService }: { service?: JobService }) {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const search = params.get("search") ?? "";
  const page = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const [searchText, setSearchText] = useState(search);
  const { resyncs } = useNotifications();

  const { data, error, loading, setData } = useApi(
    (signal) => service.jobs({ status, search, page }, signal),
    [status, search, page, resyncs],
  );

  useJobStatusEvents((event) => {
    setData((current) =>
      current && {
        ...current,
        results: current.results.map((job) =>
          job.id === event.job_id
            ? {
                ...job,
                status: event.status,
                stage: event.stage ?? job.stage,
                progress: event.progress ?? job.progress,
              }
            : job,
        ),
      },
    );
  });

  function update(changes: Record<string, string>) {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setParams(next, { replace: true });
  }

  // search as one types, after a short pause
  useEffect(() => {
    if (searchText === search) return;
    const timer = setTimeout(() => update({ search: searchText.trim(), page: "" }), 300);
    return () => clearTimeout(timer);
  }, [searchText]);

  return (
    <section aria-labelledby="jobs-heading">
      <div className="page-head">
        <h1 id="jobs-heading">Jobs</h1>
        <Link className="button primary" to="/jobs/new">
          New job
        </Link>
      </div>
      <form className="filters" role="search" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label htmlFor="jobs-status">Status</label>
          <select id="jobs-status" value={status} onChange={(e) => update({ status: e.target.value, page: "" })}>
            <option value="">All statuses</option>
            {JOB_STATUSES.map((s) => (
              <option key={s} value={s}>
                {humanize(s)}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="jobs-search">Search</label>
          <input
            id="jobs-search"
            type="search"
            value={searchText}
            placeholder="Job name"
            onChange={(e) => setSearchText(e.target.value)}
          />
        </div>
      </form>
      <ErrorAlert error={error} title="Could not load your jobs" />
      {loading && !data && <p role="status">Loading jobs…</p>}
      {data && data.results.length === 0 && (
        <p>{status || search ? "No job matches these filters." : "You have no jobs yet."}</p>
      )}
      {data && data.results.length > 0 && (
        <>
          <p className="muted" aria-live="polite">
            {data.count} job{data.count === 1 ? "" : "s"}
          </p>
          <table className="jobs-table">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Service and panel</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {data.results.map((job) => (
                <tr key={job.id} data-job-id={job.id}>
                  <td>
                    <Link to={`/jobs/${job.id}`}>{job.name}</Link>
                    {job.is_batch && <span className="badge badge-info"> Batch</span>}
                  </td>
                  <td>
                    {job.service ? job.service.name : job.is_batch ? "Several" : "—"}
                    {job.reference_panel && <div className="muted">{job.reference_panel.name}</div>}
                  </td>
                  <td className="job-status">
                    <StatusBadge status={job.status} />
                    {job.auth_paused && <span className="badge badge-failed"> Token needed</span>}
                  </td>
                  <td>
                    {humanize(job.stage)} · {job.progress}%
                  </td>
                  <td>{formatDate(job.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} count={data.count} onPage={(p) => update({ page: p > 1 ? String(p) : "" })} />
        </>
      )}
    </section>
  );
}
