import FieldError from "../../components/FieldError";
import type { FieldErrors, JobConfig } from "./model";

export default function ConfigureStep({
  config,
  onChange,
  populations,
  errors,
  detectedBuild,
}: {
  config: JobConfig;
  onChange: (changes: Partial<JobConfig>) => void;
  populations: string[];
  errors: FieldErrors;
  detectedBuild: string | null;
}) {
  return (
    <div className="form-grid">
      <h2>Settings</h2>
      <div className="field">
        <label htmlFor="cfg-build">Genome build of the input</label>
        <select
          id="cfg-build"
          value={config.build}
          aria-describedby="cfg-build-help cfg-build-error"
          onChange={(e) => onChange({ build: e.target.value as JobConfig["build"] })}
        >
          <option value="hg19">hg19 (GRCh37)</option>
          <option value="hg38">hg38 (GRCh38)</option>
        </select>
        <small id="cfg-build-help" className="muted">
          {detectedBuild && detectedBuild !== "unknown"
            ? `The pre-flight check found ${detectedBuild}.`
            : "The pre-flight check could not tell the build."}
        </small>
        <FieldError id="cfg-build-error" messages={errors.build} />
      </div>
      <div className="field">
        <label htmlFor="cfg-phasing">Phasing</label>
        <select
          id="cfg-phasing"
          value={config.phasing}
          aria-describedby="cfg-phasing-error"
          onChange={(e) => onChange({ phasing: e.target.value as JobConfig["phasing"] })}
        >
          <option value="eagle">Eagle</option>
          <option value="beagle">Beagle</option>
          <option value="no_phasing">No phasing (input already phased)</option>
        </select>
        <FieldError id="cfg-phasing-error" messages={errors.phasing} />
      </div>
      <div className="field">
        <label htmlFor="cfg-population">Population (allele-frequency check)</label>
        <select
          id="cfg-population"
          value={config.population}
          aria-describedby="cfg-population-error"
          onChange={(e) => onChange({ population: e.target.value })}
        >
          <option value="off">Off (no frequency check)</option>
          {populations.map((pop) => (
            <option key={pop} value={pop}>
              {pop}
            </option>
          ))}
        </select>
        <FieldError id="cfg-population-error" messages={errors.population} />
      </div>
      <div className="field">
        <label htmlFor="cfg-mode">Mode</label>
        <select
          id="cfg-mode"
          value={config.mode}
          aria-describedby="cfg-mode-error"
          onChange={(e) => onChange({ mode: e.target.value as JobConfig["mode"] })}
        >
          <option value="imputation">Quality control and imputation</option>
          <option value="qc_only">Quality control only</option>
        </select>
        <FieldError id="cfg-mode-error" messages={errors.mode} />
      </div>
      <div className="field">
        <label htmlFor="cfg-r2">r² filter (0 to 1; 0 keeps every imputed variant)</label>
        <input
          id="cfg-r2"
          type="number"
          inputMode="decimal"
          min={0}
          max={1}
          step={0.01}
          value={config.r2_filter}
          aria-invalid={(errors.r2_filter?.length ?? 0) > 0}
          aria-describedby="cfg-r2-error"
          onChange={(e) => onChange({ r2_filter: e.target.value })}
        />
        <FieldError id="cfg-r2-error" messages={errors.r2_filter} />
      </div>
      <FieldError id="cfg-format-error" messages={errors.input_format} />
    </div>
  );
}
