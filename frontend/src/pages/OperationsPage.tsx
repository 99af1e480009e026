import { useState, type ReactNode } from "react";
import ErrorAlert from "../components/ErrorAlert";
import Pagination from "../components/Pagination";
import StatusBadge from "../components/StatusBadge";
import { useAuth } from "../contexts/AuthContext";
import { useApi } from "../hooks/useApi";
import { JOB_STATUSES } from "../services/jobService";
import {
  monitoringService,
  type Alert,
  type AlertStatus,
  type AnalyticsReport,
  type MonitoringService,
} from "../services/monitoringService";
import { isOperator } from "../utils/access";
import { formatDate, formatDuration, formatPercent, humanize } from "../utils/format";

type ServiceProp = { service: MonitoringService };

/** What an operator may do to an alert, and from which states (resolving a resolved alert changes nothing). */
interface AlertAction {
  label: string;
  method: "acknowledgeAlert" | "resolveAlert";
  from: AlertStatus[];
}
const ALERT_ACTIONS: AlertAction[] = [
  { label: "Acknowledge", method: "acknowledgeAlert", from: ["firing"] },
  { label: "Resolve", method: "resolveAlert", from: ["firing", "acknowledged"] },
];

/** The operators' view of the platform: health of every dependency, the alerts, and the job analytics. */
export default function OperationsPage({ service = monitoringService }: Partial<ServiceProp>) {
  const { status, user } = useAuth();
  let content: ReactNode;
  if (status === "loading") {
    content = <p role="status">Loading…</p>;
  } else if (!isOperator(user)) {
    // the API would answer 403 anyway: say so plainly and ask it nothing
    content = (
      <p className="notice" role="note">
        Operations is for operators only (administrators and service administrators). Ask an administrator if you
        need access.
      </p>
    );
  } else {
    content = (
      <>
        <HealthSection service={service} />
        <AlertsSection service={service} />
        <AnalyticsSection service={service} />
      </>
    );
  }
  return (
    <section aria-labelledby="operations-heading">
      <h1 id="operations-heading">Operations</h1>
      {content}
    </section>
  );
}

function HealthSection({ service }: ServiceProp) {
  const { data, error, loading, reload } = useApi((signal) => service.health(signal), [service]);
  return (
    <section aria-labelledby="health-heading">
      <div className="page-head">
        <h2 id="health-heading">Health</h2>
        <button type="button" onClick={() => reload()} disabled={loading}>
          Check again
        </button>
      </div>
      <ErrorAlert error={error} title="Could not load the health report" />
      {loading && !data && <p role="status">Checking health…</p>}
      {data && (
        <>
          <p>
            Overall: <StatusBadge status={data.status} />{" "}
            <span className="muted">checked {formatDate(data.checked_at)}</span>
          </p>
          <table>
            <caption className="sr-only">Health of each component</caption>
            <HeaderRow
              columns={["Component", "Status", "Impact when down", "Detail", "Latency"]}
              numeric={["Latency"]}
            />
            <tbody>
              {(data.components ?? []).map((component) => (
                <tr key={component.name}>
                  <th scope="row">
                    <code>{component.name}</code>
                  </th>
                  <td>
                    <span className={`badge badge-${component.status}`}>
                      {component.status === "ok" ? "OK" : humanize(component.status)}
                    </span>
                  </td>
                  <td>{humanize(component.impact)}</td>
                  <td>{component.detail || "—"}</td>
                  <td className="num">{component.latency_ms == null ? "—" : `${component.latency_ms} ms`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function AlertsSection({ service }: ServiceProp) {
  const [showResolved, setShowResolved] = useState(false);
  const [page, setPage] = useState(1);
  const [busy, setBusy] = useState<number | null>(null);
  const [actionError, setActionError] = useState<{ error: unknown; title: string } | null>(null);
  // open alerts are few (one per rule and subject); with resolved ones the API's order keeps open ones first
  const { data, error, loading, setData } = useApi(
    (signal) => (showResolved ? service.alerts({ page }, signal) : service.openAlerts(signal)),
    [service, showResolved, page],
  );

  async function change(alert: Alert, action: AlertAction) {
    setBusy(alert.id);
    setActionError(null);
    try {
      const updated = await service[action.method](alert.id);
      setData(
        (current) => current && { ...current, results: current.results.map((a) => (a.id === updated.id ? updated : a)) },
      );
    } catch (failure) {
      setActionError({ error: failure, title: `Could not ${action.label.toLowerCase()} “${alert.title}”` });
    } finally {
      setBusy(null);
    }
  }

  // a row resolved here stays listed (as resolved) but is no longer open: count only the others
  const resolvedHere = data && !showResolved ? data.results.filter((a) => a.status === "resolved").length : 0;
  const count = (data?.count ?? 0) - resolvedHere;
  const shown = (data?.results.length ?? 0) - resolvedHere;

  return (
    <section aria-labelledby="alerts-heading">
      <div className="page-head">
        <h2 id="alerts-heading">Alerts</h2>
        <div className="field checkbox">
          <input
            id="alerts-resolved"
            type="checkbox"
            checked={showResolved}
            onChange={(e) => {
              setShowResolved(e.target.checked);
              setPage(1);
            }}
          />
          <label htmlFor="alerts-resolved">Show resolved alerts</label>
        </div>
      </div>
      <ErrorAlert error={error} title="Could not load the alerts" />
      <ErrorAlert error={actionError?.error} title={actionError?.title} />
      {loading && !data && <p role="status">Loading alerts…</p>}
      {data && data.results.length === 0 && <p>{showResolved ? "No alerts yet." : "No open alerts."}</p>}
      {data && data.results.length > 0 && (
        <>
          <p className="muted" aria-live="polite">
            {count} {showResolved ? "" : "open "}alert{count === 1 ? "" : "s"}
            {!showResolved && count > shown && `, the newest ${shown} shown`}
          </p>
          <table>
            <caption className="sr-only">{showResolved ? "Alerts, open ones first" : "Open alerts"}</caption>
            <HeaderRow columns={["Severity", "Alert", "Status", "Opened", "Last seen", "Actions"]} />
            <tbody>
              {data.results.map((alert) => (
                <tr key={alert.id} data-alert-id={alert.id}>
                  <td>
                    <StatusBadge status={alert.severity} />
                  </td>
                  <td>
                    <strong>{alert.title}</strong>
                    {alert.message && <div className="muted">{alert.message}</div>}
                  </td>
                  <td>
                    <StatusBadge status={alert.status} />
                    {alert.status === "acknowledged" && (
                      <div className="muted">since {formatDate(alert.acknowledged_at)}</div>
                    )}
                    {alert.status === "resolved" && (
                      <div className="muted">
                        {humanize(alert.resolution)}, {formatDate(alert.resolved_at)}
                      </div>
                    )}
                  </td>
                  <td>{formatDate(alert.opened_at)}</td>
                  <td>{formatDate(alert.last_seen_at)}</td>
                  <td className="actions">
                    {ALERT_ACTIONS.filter((action) => action.from.includes(alert.status)).map((action) => (
                      <button
                        key={action.method}
                        type="button"
                        aria-label={`${action.label}: ${alert.title}`}
                        disabled={busy === alert.id}
                        onClick={() => change(alert, action)}
                      >
                        {action.label}
                      </button>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {showResolved && <Pagination page={page} count={data.count} onPage={setPage} />}
        </>
      )}
    </section>
  );
}

const WINDOW_DAYS = [7, 30, 90, 365];

function AnalyticsSection({ service }: ServiceProp) {
  const [days, setDays] = useState(30);
  const { data, error, loading } = useApi((signal) => service.analytics({ days }, signal), [service, days]);
  return (
    <section aria-labelledby="analytics-heading">
      <div className="page-head">
        <h2 id="analytics-heading">Analytics</h2>
        <div>
          <label htmlFor="analytics-window">Window</label>
          <select id="analytics-window" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {WINDOW_DAYS.map((n) => (
              <option key={n} value={n}>
                Last {n} days
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorAlert error={error} title="Could not load the analytics" />
      {loading && <p role="status">Loading analytics…</p>}
      {data && !loading && <AnalyticsReportView report={data} />}
    </section>
  );
}

function AnalyticsReportView({ report }: { report: AnalyticsReport }) {
  const { totals, durations, queue } = report;
  const figures: [string, string][] = [
    ["Jobs submitted", String(totals.jobs)],
    ["Success rate", formatPercent(totals.success_rate)],
    ["Median duration (p50)", formatDuration(durations.p50_seconds)],
    ["Duration, 95th percentile", formatDuration(durations.p95_seconds)],
    ["Average duration", formatDuration(durations.avg_seconds)],
    ["Longest run", formatDuration(durations.max_seconds)],
    ["Average queue time", formatDuration(queue.avg_seconds)],
  ];
  return (
    <>
      <p className="muted">
        Jobs submitted from {report.window.start} to {report.window.end} (UTC, {report.window.days} days). The
        success rate counts completed jobs against completed and failed ones: a cancelled job says nothing about a
        service.
      </p>
      <dl className="cards">
        {figures.map(([label, value]) => (
          <div key={label} className="card stat">
            <dt className="stat-label">{label}</dt>
            <dd className="stat-value">{value}</dd>
          </div>
        ))}
      </dl>
      {totals.jobs === 0 ? (
        <p>No jobs were submitted in this window.</p>
      ) : (
        <>
          <h3>Jobs by status</h3>
          <CountTable
            caption="Jobs in each status"
            heading="Status"
            rows={JOB_STATUSES.map((s) => ({
              key: s,
              label: <StatusBadge status={s} />,
              count: totals.by_status[s] ?? 0,
              bar: `bar-${s}`,
            }))}
          />
          <h3>Services</h3>
          <table>
            <caption className="sr-only">Jobs, success rate and durations per service</caption>
            <HeaderRow
              columns={["Service", "Jobs", "Success rate", "Average duration", "Longest run"]}
              numeric={["Jobs", "Success rate", "Average duration", "Longest run"]}
            />
            <tbody>
              {report.services.map((s) => (
                <tr key={s.service_id}>
                  <th scope="row">{s.service}</th>
                  <td className="num">{s.total}</td>
                  <td className="num">{formatPercent(s.success_rate)}</td>
                  <td className="num">{formatDuration(s.duration.avg_seconds)}</td>
                  <td className="num">{formatDuration(s.duration.max_seconds)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Failure categories</h3>
          {report.failure_categories.length === 0 ? (
            <p>No job failed in this window.</p>
          ) : (
            <CountTable
              caption="Failed jobs by category"
              heading="Category"
              rows={report.failure_categories.map((f) => ({
                key: f.category,
                label: humanize(f.category),
                count: f.count,
                bar: "bar-failed",
              }))}
            />
          )}
        </>
      )}
    </>
  );
}

/** Counts as a table, each row with a bar for its share of the whole (the bar only repeats the number). */
function CountTable({
  caption,
  heading,
  rows,
}: {
  caption: string;
  heading: string;
  rows: { key: string; label: ReactNode; count: number; bar: string }[];
}) {
  const whole = Math.max(1, rows.reduce((sum, row) => sum + row.count, 0));
  return (
    <table className="bars">
      <caption className="sr-only">{caption}</caption>
      <HeaderRow columns={[heading, "Jobs", "Share"]} numeric={["Jobs"]} />
      <tbody>
        {rows.map((row) => (
          <tr key={row.key}>
            <th scope="row">{row.label}</th>
            <td className="num">{row.count}</td>
            <td className="bar-cell">
              <span
                className={`bar ${row.bar}`}
                style={{ width: `${(row.count / whole) * 100}%` }}
                aria-hidden="true"
              />
              <span className="sr-only">{formatPercent(row.count / whole)}</span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A table's column headings; those named in `numeric` hold numbers and align right like their cells. */
function HeaderRow({ columns, numeric = [] }: { columns: string[]; numeric?: string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((name) => (
          <th key={name} scope="col" className={numeric.includes(name) ? "num" : undefined}>
            {name}
          </th>
        ))}
      </tr>
    </thead>
  );
}
