import { Link, useSearchParams } from "react-router-dom";
import ErrorAlert from "../components/ErrorAlert";
import HealthDot from "../components/HealthDot";
import { useApi } from "../hooks/useApi";
import { API_TYPES, HEALTH_STATUSES, registryService } from "../services/registryService";
import { humanize } from "../utils/format";

/** Service cards with health, filtered by type, health and country (kept in the URL). */
export default function ServicesPage() {
  const [params, setParams] = useSearchParams();
  const filters = {
    api_type: params.get("api_type") ?? "",
    health_status: params.get("health") ?? "",
    country: params.get("country") ?? "",
    search: params.get("search") ?? "",
  };
  const { data, error, loading } = useApi(
    (signal) => registryService.services(filters, signal),
    [filters.api_type, filters.health_status, filters.country, filters.search],
  );
  // countries offered: those of every service (unfiltered), so a filter can always be changed back
  const all = useApi((signal) => registryService.services({}, signal), []);
  const countries = [...new Set((all.data?.results ?? []).map((s) => s.location.country).filter(Boolean))].sort();

  function update(name: string, value: string) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  }

  return (
    <section aria-labelledby="services-heading">
      <h1 id="services-heading">Imputation services</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} role="search" aria-label="Filter services">
        <div>
          <label htmlFor="svc-type">Type</label>
          <select id="svc-type" value={filters.api_type} onChange={(e) => update("api_type", e.target.value)}>
            <option value="">All types</option>
            {API_TYPES.map((t) => (
              <option key={t} value={t}>
                {humanize(t)}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="svc-health">Health</label>
          <select id="svc-health" value={filters.health_status} onChange={(e) => update("health", e.target.value)}>
            <option value="">Any health</option>
            {HEALTH_STATUSES.map((h) => (
              <option key={h} value={h}>
                {humanize(h)}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="svc-country">Country</label>
          <select id="svc-country" value={filters.country} onChange={(e) => update("country", e.target.value)}>
            <option value="">All countries</option>
            {countries.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="svc-search">Search</label>
          <input
            id="svc-search"
            type="search"
            value={filters.search}
            onChange={(e) => update("search", e.target.value)}
            placeholder="Name or description"
          />
        </div>
      </form>
      <ErrorAlert error={error} title="Could not load the services" />
      {loading && <p role="status">Loading services…</p>}
      {data && data.results.length === 0 && <p>No service matches these filters.</p>}
      <ul className="cards service-cards">
        {data?.results.map((service) => (
          <li key={service.id} className="card service-card">
            <h2>
              <Link to={`/services/${service.slug}`}>{service.name}</Link>
            </h2>
            <HealthDot status={service.health.status} />
            <p className="muted">
              {humanize(service.api_type)}
              {service.location.country && ` · ${[service.location.city, service.location.country].filter(Boolean).join(", ")}`}
            </p>
            {service.description && <p>{service.description}</p>}
            <p>
              {service.panel_count} reference panel{service.panel_count === 1 ? "" : "s"}
              {service.supported_builds.length > 0 && ` · ${service.supported_builds.join(", ")}`}
              {service.requires_auth && " · needs your API token"}
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}
