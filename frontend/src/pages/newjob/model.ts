/** The New job stepper's state: what each step edits, and which step owns which API field. */

import type { FileValidation, UploadHandle } from "../../services/fileService";
import type { Mode, Phasing } from "../../services/jobService";
import type { ReferencePanel } from "../../services/registryService";

export const STEPS = ["upload", "preflight", "targets", "configure", "review"] as const;
export type StepName = (typeof STEPS)[number];

export const STEP_TITLES: Record<StepName, string> = {
  upload: "Upload",
  preflight: "Pre-flight check",
  targets: "Services and panels",
  configure: "Settings",
  review: "Review and submit",
};

export interface UploadItem {
  key: string;
  name: string;
  size: number;
  /** 0-100 */
  progress: number;
  state: "uploading" | "paused" | "uploaded" | "failed";
  error?: string;
  fileId?: number;
  /** Set when the upload continued one started before (e.g. before a page reload). */
  resumed?: boolean;
  validation?: FileValidation;
  validationError?: unknown;
  handle?: UploadHandle;
}

export interface ChosenTarget {
  serviceId: number;
  serviceName: string;
  panel: ReferencePanel;
}

export interface JobConfig {
  build: "hg19" | "hg38";
  phasing: Phasing;
  population: string;
  mode: Mode;
  /** Kept as typed, checked before review. */
  r2_filter: string;
}

export type FieldErrors = Record<string, string[]>;

/** The step where the user fixes each field the API may name in `error.details`. */
export const FIELD_STEP: Record<string, StepName> = {
  input_files: "upload",
  targets: "targets",
  service: "targets",
  reference_panel: "targets",
  build: "configure",
  phasing: "configure",
  population: "configure",
  mode: "configure",
  r2_filter: "configure",
  input_format: "configure",
  name: "review",
  description: "review",
};

export function isFinal(item: UploadItem): boolean {
  return item.validation?.status === "ready" || item.validation?.status === "rejected";
}

/** The populations every chosen panel offers (a job's population must be one of its panel's). */
export function commonPopulations(targets: ChosenTarget[]): string[] {
  if (targets.length === 0) return [];
  const [first, ...rest] = targets;
  return (first?.panel.populations ?? []).filter((pop) => rest.every((t) => t.panel.populations.includes(pop)));
}

/** Client-side checks of the settings step, by field. */
export function checkConfig(config: JobConfig, populations: string[]): FieldErrors {
  const errors: FieldErrors = {};
  const r2 = Number(config.r2_filter);
  if (config.r2_filter.trim() === "" || Number.isNaN(r2) || r2 < 0 || r2 > 1) {
    errors.r2_filter = ["Enter a number from 0 to 1."];
  }
  if (config.population !== "off" && !populations.includes(config.population)) {
    errors.population = ["Pick a population every chosen panel lists, or Off."];
  }
  return errors;
}

export function checkName(name: string): FieldErrors {
  if (!name.trim()) return { name: ["Give the job a name."] };
  if (name.trim().length > 200) return { name: ["Use at most 200 characters."] };
  return {};
}
