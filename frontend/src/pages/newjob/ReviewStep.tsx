import type { ReactNode } from "react";
import FieldError from "../../components/FieldError";
import { humanize } from "../../utils/format";
import type { ChosenTarget, FieldErrors, JobConfig, StepName, UploadItem } from "./model";

function Row({
  label,
  field,
  errors,
  onEdit,
  children,
}: {
  label: string;
  field: string;
  errors: FieldErrors;
  onEdit: () => void;
  children: ReactNode;
}) {
  const id = `review-${field}-error`;
  const failing = (errors[field]?.length ?? 0) > 0;
  return (
    <div className={`review-row${failing ? " has-error" : ""}`}>
      <dt>{label}</dt>
      <dd aria-describedby={failing ? id : undefined}>
        {children}{" "}
        <button type="button" className="link-button" onClick={onEdit}>
          Change {label.toLowerCase()}
        </button>
        <FieldError id={id} messages={errors[field]} />
      </dd>
    </div>
  );
}

export default function ReviewStep({
  name,
  description,
  onName,
  onDescription,
  items,
  targets,
  config,
  errors,
  goTo,
}: {
  name: string;
  description: string;
  onName: (value: string) => void;
  onDescription: (value: string) => void;
  items: UploadItem[];
  targets: ChosenTarget[];
  config: JobConfig;
  errors: FieldErrors;
  goTo: (step: StepName) => void;
}) {
  const targetErrors: FieldErrors = {
    targets: [...(errors.targets ?? []), ...(errors.service ?? []), ...(errors.reference_panel ?? [])],
  };
  if (targetErrors.targets?.length === 0) delete targetErrors.targets;
  return (
    <div>
      <h2>Review and submit</h2>
      <div className="field">
        <label htmlFor="job-name">Job name</label>
        <input
          id="job-name"
          value={name}
          maxLength={250}
          aria-invalid={(errors.name?.length ?? 0) > 0}
          aria-describedby="job-name-error"
          onChange={(e) => onName(e.target.value)}
        />
        <FieldError id="job-name-error" messages={errors.name} />
      </div>
      <div className="field">
        <label htmlFor="job-description">Description (optional)</label>
        <textarea
          id="job-description"
          value={description}
          rows={2}
          aria-describedby="job-description-error"
          onChange={(e) => onDescription(e.target.value)}
        />
        <FieldError id="job-description-error" messages={errors.description} />
      </div>
      <dl className="review">
        <Row label="Input files" field="input_files" errors={errors} onEdit={() => goTo("upload")}>
          {items.map((i) => i.name).join(", ")}
        </Row>
        <Row label="Targets" field="targets" errors={targetErrors} onEdit={() => goTo("targets")}>
          {targets.length === 1 ? "" : `${targets.length} jobs in one batch: `}
          {targets.map((t) => `${t.serviceName} — ${t.panel.name}`).join("; ")}
        </Row>
        <Row label="Build" field="build" errors={errors} onEdit={() => goTo("configure")}>
          {config.build}
        </Row>
        <Row label="Phasing" field="phasing" errors={errors} onEdit={() => goTo("configure")}>
          {humanize(config.phasing)}
        </Row>
        <Row label="Population" field="population" errors={errors} onEdit={() => goTo("configure")}>
          {config.population === "off" ? "Off" : config.population}
        </Row>
        <Row label="Mode" field="mode" errors={errors} onEdit={() => goTo("configure")}>
          {humanize(config.mode)}
        </Row>
        <Row label="r² filter" field="r2_filter" errors={errors} onEdit={() => goTo("configure")}>
          {config.r2_filter}
        </Row>
      </dl>
      <FieldError id="review-other-error" messages={[...(errors.non_field_errors ?? []), ...(errors.input_format ?? [])]} />
    </div>
  );
}
