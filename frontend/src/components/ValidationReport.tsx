import type { FileValidation, Problem } from "../services/fileService";
import { formatBytes, humanize } from "../utils/format";

const STATUS_TEXT: Record<string, string> = {
  uploading: "Upload not finished",
  validating: "Checking…",
  ready: "Ready: the file passed the pre-flight check",
  rejected: "Rejected: fix the errors below and upload the file again",
};

function ProblemList({ title, problems, severity }: { title: string; problems: Problem[]; severity: string }) {
  if (problems.length === 0) return null;
  return (
    <div className={`problems problems-${severity}`}>
      <h4>
        {title} ({problems.length})
      </h4>
      <ul>
        {problems.map((problem, index) => (
          <li key={`${problem.code}-${index}`}>
            <span className={`badge badge-${severity}`}>{humanize(severity)}</span> {problem.message}{" "}
            <span className="muted">({problem.code})</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The pre-flight report of one uploaded file: its verdict, what was found, and problems by severity. */
export default function ValidationReport({ name, validation }: { name: string; validation: FileValidation }) {
  const report = validation.report;
  const problems = report?.problems ?? [];
  const errors = problems.filter((p) => p.severity === "error");
  const warnings = problems.filter((p) => p.severity !== "error");
  return (
    <article className={`card report report-${validation.status}`} aria-label={`Pre-flight report of ${name}`}>
      <h3>{name}</h3>
      <p className="report-status" role="status">
        <strong>{STATUS_TEXT[validation.status] ?? humanize(validation.status)}</strong>
      </p>
      {report && report.variants !== undefined && (
        <dl className="facts">
          <dt>Format</dt>
          <dd>
            {(report.content ?? "—").toUpperCase()}
            {report.vcf_version ? ` ${report.vcf_version}` : ""} ({report.compression ?? "—"})
          </dd>
          <dt>Size</dt>
          <dd>{formatBytes(report.size_bytes)}</dd>
          <dt>Samples</dt>
          <dd>{report.samples?.toLocaleString() ?? "—"}</dd>
          <dt>Variants</dt>
          <dd>{report.variants.toLocaleString()}</dd>
          <dt>Chromosomes</dt>
          <dd>{report.chromosomes?.map((c) => c.name).join(", ") || "—"}</dd>
          <dt>Build detected</dt>
          <dd>
            {report.detected_build ?? "—"}
            {report.build_evidence ? <span className="muted"> ({report.build_evidence})</span> : null}
          </dd>
          <dt>Phasing</dt>
          <dd>{humanize(report.phasing)}</dd>
        </dl>
      )}
      <ProblemList title="Errors" problems={errors} severity="error" />
      <ProblemList title="Warnings" problems={warnings} severity="warning" />
      {validation.status !== "validating" && problems.length === 0 && <p>No problems found.</p>}
    </article>
  );
}
