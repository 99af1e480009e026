import { Link, useParams } from "react-router-dom";
import ErrorAlert from "../components/ErrorAlert";
import HealthDot from "../components/HealthDot";
import { useApi } from "../hooks/useApi";
import { registryService } from "../services/registryService";
import { formatDate, humanize } from "../utils/format";

export default function ServiceDetailPage() {
  const { key = "" } = useParams();
  const service = useApi((signal) => registryService.service(key, signal), [key]);
  const panels = useApi((signal) => registryService.panels(key, signal), [key]);
  const health = useApi((signal) => registryService.health(key, signal), [key]);
  const s = service.data;

  return (
    <section aria-labelledby="service-heading">
      <p>
        <Link to="/services">← All services</Link>
      </p>
      <ErrorAlert error={service.error} title="Could not load the service" />
      {service.loading && <p role="status">Loading…</p>}
      {s && (
        <>
          <div className="page-head">
            <h1 id="service-heading">{s.name}</h1>
            <Link className="button primary" to={`/jobs/new?service=${s.id}`}>
              Submit a job here
            </Link>
          </div>
          <HealthDot status={s.health.status} />
          {s.health.message && <span className="muted"> — {s.health.message}</span>}
          {s.description && <p>{s.description}</p>}
          <dl className="facts">
            <dt>Type</dt>
            <dd>{humanize(s.api_type)}</dd>
            <dt>Location</dt>
            <dd>
              {[s.location.institution, s.location.city, s.location.country].filter(Boolean).join(", ") || "—"}
            </dd>
            <dt>Builds</dt>
            <dd>{s.supported_builds.join(", ") || "—"}</dd>
            <dt>Formats</dt>
            <dd>{s.supported_formats.join(", ") || "—"}</dd>
            <dt>Maximum file size</dt>
            <dd>{s.max_file_size_mb ? `${s.max_file_size_mb} MB` : "—"}</dd>
            <dt>Samples per job</dt>
            <dd>
              {s.limits.min_samples ?? "—"} to {s.limits.max_samples ?? "—"}
            </dd>
            <dt>Results kept</dt>
            <dd>{s.limits.retention_days ? `${s.limits.retention_days} days` : "—"}</dd>
            <dt>Needs your API token</dt>
            <dd>{s.requires_auth ? "Yes (add it in Settings)" : "No"}</dd>
            <dt>Last health check</dt>
            <dd>
              {formatDate(s.health.checked_at)}
              {s.health.response_time_ms !== null && ` (${s.health.response_time_ms} ms)`}
            </dd>
          </dl>
        </>
      )}

      <h2>Reference panels</h2>
      <ErrorAlert error={panels.error} title="Could not load the panels" />
      {panels.data && panels.data.results.length === 0 && <p>This service lists no reference panels.</p>}
      {panels.data && panels.data.results.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Panel</th>
              <th scope="col">Build</th>
              <th scope="col">Populations</th>
              <th scope="col">Samples</th>
              <th scope="col">Available</th>
            </tr>
          </thead>
          <tbody>
            {panels.data.results.map((panel) => (
              <tr key={panel.id}>
                <td>
                  <strong>{panel.name}</strong>
                  {panel.description && <div className="muted">{panel.description}</div>}
                </td>
                <td>{panel.build}</td>
                <td>{panel.populations.join(", ") || "—"}</td>
                <td className="num">{panel.samples_count?.toLocaleString() ?? "—"}</td>
                <td>{panel.is_available ? "Yes" : "No"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Health history</h2>
      <ErrorAlert error={health.error} title="Could not load the health history" />
      {health.data && health.data.history.length === 0 && <p>No checks recorded yet.</p>}
      {health.data && health.data.history.length > 0 && (
        <ul className="timeline">
          {health.data.history.slice(0, 20).map((check, index) => (
            <li key={`${check.checked_at}-${index}`}>
              <HealthDot status={check.status} /> <span className="muted">{formatDate(check.checked_at)}</span>
              {check.response_time_ms !== null && <span className="muted"> · {check.response_time_ms} ms</span>}
              {check.message && <span> · {check.message}</span>}
            </li>
          ))}
        </ul>
      )}

      {s?.server_info ? (
        <details>
          <summary>Service information reported by the server</summary>
          <pre className="pre">{JSON.stringify(s.server_info, null, 2)}</pre>
        </details>
      ) : null}
    </section>
  );
}
