import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import ErrorAlert from "../components/ErrorAlert";
import ProgressBar from "../components/ProgressBar";
import StatusBadge from "../components/StatusBadge";
import { useJobStatusEvents } from "../contexts/NotificationContext";
import { useApi, useInterval } from "../hooks/useApi";
import { fileService as defaultFileService, type FileService } from "../services/fileService";
import { ACTIVE_STATUSES, jobService as defaultJobService, type JobDetail, type JobService } from "../services/jobService";
import { formatBytes, formatDate, formatDuration, humanize } from "../utils/format";

const STAGES = ["queued", "submitting", "submitted", "running", "exporting", "downloading", "done"] as const;
const POLL_MS = 5000;

export function AuthPausedBanner({ job }: { job: Pick<JobDetail, "auth_paused" | "auth_message" | "service"> }) {
  if (!job.auth_paused) return null;
  const service = job.service?.name ?? "the service";
  return (
    <div className="alert alert-warning" role="alert">
      <strong>This job is paused: {service} did not accept your API token.</strong>{" "}
      {job.auth_message && <span>{job.auth_message} </span>}
      Replace your token for {service} in <Link to="/settings#credentials">Settings → Service credentials</Link>; the
      job carries on once the new token is accepted.
    </div>
  );
}

function QcSummary({ summary }: { summary: Record<string, unknown> }) {
  const entries = Object.entries(summary);
  const simple = entries.filter(([, v]) => v === null || ["string", "number", "boolean"].includes(typeof v));
  const complex = entries.filter(([, v]) => v !== null && typeof v === "object");
  return (
    <>
      {simple.length > 0 && (
        <dl className="facts">
          {simple.map(([key, value]) => (
            <div key={key} className="fact">
              <dt>{humanize(key)}</dt>
              <dd>{value === null ? "—" : String(value)}</dd>
            </div>
          ))}
        </dl>
      )}
      {complex.map(([key, value]) => (
        <details key={key}>
          <summary>{humanize(key)}</summary>
          <pre className="pre">{JSON.stringify(value, null, 2)}</pre>
        </details>
      ))}
    </>
  );
}

export default function JobDetailPage({
  jobs = defaultJobService,
  files = defaultFileService,
}: {
  jobs?: JobService;
  files?: FileService;
}) {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const job = useApi((signal) => jobs.job(id, signal), [id]);
  const history = useApi((signal) => jobs.history(id, signal), [id]);
  const logs = useApi((signal) => jobs.logs(id, signal), [id]);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState<"cancel" | "retry" | null>(null);
  const [downloading, setDownloading] = useState<number | null>(null);

  const data = job.data;
  const active = data ? ACTIVE_STATUSES.has(data.status) || Boolean(data.children?.some((c) => ACTIVE_STATUSES.has(c.status))) : false;

  function refreshAll() {
    job.reload(true);
    history.reload(true);
    logs.reload(true);
  }
  useInterval(refreshAll, POLL_MS, active);

  // several socket messages often arrive together: one refresh for a burst
  const burst = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (burst.current) clearTimeout(burst.current);
  }, []);
  function refreshSoon() {
    if (burst.current) return;
    burst.current = setTimeout(() => {
      burst.current = null;
      refreshAll();
    }, 400);
  }

  useJobStatusEvents((event) => {
    const related = event.job_id === id || data?.children?.some((child) => child.id === event.job_id);
    if (!related) return;
    if (event.job_id === id) {
      job.setData(
        (current) =>
          current && {
            ...current,
            status: event.status,
            stage: event.stage ?? current.stage,
            progress: event.progress ?? current.progress,
          },
      );
    }
    refreshSoon();
  });

  async function cancel() {
    if (!window.confirm("Cancel this job? The remote service is asked to stop it too.")) return;
    setBusy("cancel");
    setActionError(null);
    try {
      job.setData(await jobs.cancel(id));
      history.reload(true);
    } catch (error) {
      setActionError(error);
    } finally {
      setBusy(null);
    }
  }

  async function retry() {
    setBusy("retry");
    setActionError(null);
    try {
      const created = await jobs.retry(id);
      navigate(`/jobs/${created.id}`);
    } catch (error) {
      setActionError(error);
    } finally {
      setBusy(null);
    }
  }

  async function download(fileId: number, name: string) {
    setDownloading(fileId);
    setActionError(null);
    try {
      await files.download(fileId, name);
    } catch (error) {
      setActionError(error);
    } finally {
      setDownloading(null);
    }
  }

  return (
    <section aria-labelledby="job-heading">
      <p>
        <Link to="/jobs">← All jobs</Link>
      </p>
      <ErrorAlert error={job.error} title="Could not load the job" />
      {job.loading && !data && <p role="status">Loading…</p>}
      {data && (
        <>
          <div className="page-head">
            <h1 id="job-heading">{data.name}</h1>
            <div className="actions">
              {ACTIVE_STATUSES.has(data.status) && (
                <button type="button" onClick={cancel} disabled={busy !== null || data.cancel_requested}>
                  {data.cancel_requested ? "Cancelling…" : busy === "cancel" ? "Cancelling…" : "Cancel job"}
                </button>
              )}
              {(data.status === "failed" || data.status === "cancelled") && !data.is_batch && (
                <button type="button" className="primary" onClick={retry} disabled={busy !== null}>
                  {busy === "retry" ? "Retrying…" : "Retry"}
                </button>
              )}
            </div>
          </div>
          <AuthPausedBanner job={data} />
          <ErrorAlert error={actionError} />
          <p className="job-summary">
            <StatusBadge status={data.status} /> <span>Stage: {humanize(data.stage)}</span>
            {data.queue_position !== null && data.status === "queued" && (
              <span> · position {data.queue_position} in the queue</span>
            )}
          </p>
          {data.message && <p>{data.message}</p>}
          {data.error && (
            <div className="alert alert-error" role="alert">
              <strong>{humanize(data.error.category)} failure:</strong> {data.error.message}
            </div>
          )}
          <ProgressBar value={data.progress} label="Job progress" />
          <ol className="stages" aria-label="Stages">
            {STAGES.map((stage) => {
              const reached = STAGES.indexOf(data.stage) >= STAGES.indexOf(stage);
              const current = data.stage === stage;
              return (
                <li
                  key={stage}
                  className={current ? "stage current" : reached ? "stage reached" : "stage"}
                  aria-current={current ? "step" : undefined}
                >
                  {humanize(stage)}
                  {current ? " (current)" : reached ? " (done)" : ""}
                </li>
              );
            })}
          </ol>
          <dl className="facts">
            <dt>Service</dt>
            <dd>{data.service?.name ?? (data.is_batch ? "Several (batch)" : "—")}</dd>
            <dt>Reference panel</dt>
            <dd>{data.reference_panel?.name ?? "—"}</dd>
            <dt>Build</dt>
            <dd>{data.build}</dd>
            <dt>Phasing</dt>
            <dd>{humanize(data.phasing)}</dd>
            <dt>Population</dt>
            <dd>{data.population === "off" ? "Off (no frequency check)" : data.population}</dd>
            <dt>Mode</dt>
            <dd>{humanize(data.mode)}</dd>
            <dt>r² filter</dt>
            <dd>{data.r2_filter}</dd>
            <dt>Created</dt>
            <dd>{formatDate(data.created_at)}</dd>
            <dt>Started</dt>
            <dd>{formatDate(data.started_at)}</dd>
            <dt>Finished</dt>
            <dd>{formatDate(data.completed_at)}</dd>
            <dt>Duration</dt>
            <dd>{formatDuration(data.duration_seconds)}</dd>
            {data.external_job_id && (
              <>
                <dt>Remote job</dt>
                <dd>{data.external_job_id}</dd>
              </>
            )}
            {data.retry_of && (
              <>
                <dt>Retry of</dt>
                <dd>
                  <Link to={`/jobs/${data.retry_of}`}>the earlier attempt</Link>
                </dd>
              </>
            )}
            {data.parent_id && (
              <>
                <dt>Part of batch</dt>
                <dd>
                  <Link to={`/jobs/${data.parent_id}`}>the batch</Link>
                </dd>
              </>
            )}
          </dl>

          {data.children && data.children.length > 0 && (
            <>
              <h2>Targets of this batch</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Job</th>
                    <th scope="col">Service and panel</th>
                    <th scope="col">Status</th>
                    <th scope="col">Progress</th>
                  </tr>
                </thead>
                <tbody>
                  {data.children.map((child) => (
                    <tr key={child.id}>
                      <td>
                        <Link to={`/jobs/${child.id}`}>{child.name}</Link>
                      </td>
                      <td>
                        {child.service?.name ?? "—"}
                        <div className="muted">{child.reference_panel?.name}</div>
                      </td>
                      <td>
                        <StatusBadge status={child.status} />
                        {child.auth_paused && <span className="badge badge-failed"> Token needed</span>}
                      </td>
                      <td>{child.progress}%</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}

          <h2>Results</h2>
          {data.result_files.length === 0 ? (
            <p>{data.status === "completed" ? "This job produced no files." : "Results appear here when the job completes."}</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col">Type</th>
                  <th scope="col">Size</th>
                  <th scope="col">
                    <span className="sr-only">Download</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.result_files.map((file) => (
                  <tr key={file.file_id}>
                    <td>{file.name}</td>
                    <td>{humanize(file.result_type)}</td>
                    <td>{formatBytes(file.size)}</td>
                    <td>
                      <button
                        type="button"
                        onClick={() => download(file.file_id, file.name)}
                        disabled={downloading === file.file_id}
                        aria-label={`Download ${file.name}`}
                      >
                        {downloading === file.file_id ? "Preparing…" : "Download"}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}

          {data.qc_summary && Object.keys(data.qc_summary).length > 0 && (
            <>
              <h2>Quality control</h2>
              <QcSummary summary={data.qc_summary} />
            </>
          )}
        </>
      )}

      <h2>Status history</h2>
      <ErrorAlert error={history.error} title="Could not load the history" />
      {history.data && history.data.results.length === 0 && <p>No changes recorded yet.</p>}
      {history.data && history.data.results.length > 0 && (
        <ol className="timeline" aria-label="Status history">
          {history.data.results.map((entry, index) => (
            <li key={`${entry.timestamp}-${index}`}>
              <StatusBadge status={entry.status} /> {humanize(entry.stage)} · {entry.progress}%{" "}
              <span className="muted">{formatDate(entry.timestamp)}</span>
              {entry.message && <div>{entry.message}</div>}
            </li>
          ))}
        </ol>
      )}

      <h2>Remote step logs</h2>
      {active && <p className="muted">Refreshing every few seconds while the job runs.</p>}
      <ErrorAlert error={logs.error} title="Could not load the logs" />
      {logs.data && logs.data.results.length === 0 && <p>No log lines from the service yet.</p>}
      {logs.data && logs.data.results.length > 0 && (
        <div className="log" role="log" aria-label="Remote step logs">
          {logs.data.results.map((line) => (
            <div key={`${line.step}-${line.index}`} className={`log-line log-${line.level}`}>
              <span className="log-step">[{line.step}]</span> <span className="log-level">{line.level}</span>{" "}
              {line.message}
            </div>
          ))}
        </div>
      )}
    </section>
  );
}
