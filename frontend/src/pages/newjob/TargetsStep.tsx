import FieldError from "../../components/FieldError";
import HealthDot from "../../components/HealthDot";
import type { ImputationService, ReferencePanel } from "../../services/registryService";
import type { ChosenTarget, FieldErrors } from "./model";

export default function TargetsStep({
  services,
  panels,
  chosen,
  onToggle,
  errors,
  preferredService,
}: {
  services: ImputationService[];
  panels: ReferencePanel[];
  chosen: ChosenTarget[];
  onToggle: (service: ImputationService, panel: ReferencePanel) => void;
  errors: FieldErrors;
  preferredService: number | null;
}) {
  const ordered = [...services].sort((a, b) =>
    a.id === preferredService ? -1 : b.id === preferredService ? 1 : a.name.localeCompare(b.name),
  );
  const messages = [...(errors.targets ?? []), ...(errors.service ?? []), ...(errors.reference_panel ?? [])];
  return (
    <fieldset aria-describedby="targets-error">
      <legend>
        <h2>Choose services and reference panels</h2>
      </legend>
      <p>Pick one panel, or several to run the same input on each (a batch with one job per panel).</p>
      <FieldError id="targets-error" messages={messages} />
      {ordered.length === 0 && <p>No service is available.</p>}
      {ordered.map((service) => {
        const own = panels.filter((p) => p.service_id === service.id && p.is_available);
        return (
          <section key={service.id} className="card target-service" aria-label={service.name}>
            <h3>
              {service.name} <HealthDot status={service.health.status} />
            </h3>
            {service.requires_auth && (
              <p className="muted">Needs your API token for this service (Settings → Service credentials).</p>
            )}
            {own.length === 0 && <p className="muted">No panel available.</p>}
            <ul className="checks">
              {own.map((panel) => {
                const id = `target-${service.id}-${panel.id}`;
                const checked = chosen.some((t) => t.panel.id === panel.id);
                return (
                  <li key={panel.id}>
                    <input id={id} type="checkbox" checked={checked} onChange={() => onToggle(service, panel)} />
                    <label htmlFor={id}>
                      {panel.name} <span className="muted">({panel.build}</span>
                      <span className="muted">
                        {panel.samples_count ? `, ${panel.samples_count.toLocaleString()} samples` : ""}
                        {panel.populations.length ? `, populations ${panel.populations.join(", ")}` : ""})
                      </span>
                    </label>
                  </li>
                );
              })}
            </ul>
          </section>
        );
      })}
    </fieldset>
  );
}
