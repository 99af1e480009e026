import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import ErrorAlert from "../components/ErrorAlert";
import ValidationReport from "../components/ValidationReport";
import { useAuth } from "../contexts/AuthContext";
import { useApi, useInterval } from "../hooks/useApi";
import { errorMessage, fieldErrorsOf } from "../services/apiGateway";
import {
  fileService as defaultFileService,
  uploadErrorMessage,
  type FileService,
  type StoredFile,
  type UnfinishedUpload,
} from "../services/fileService";
import { jobService as defaultJobService, newIdempotencyKey, type JobService } from "../services/jobService";
import {
  registryService as defaultRegistryService,
  type ImputationService,
  type ReferencePanel,
} from "../services/registryService";
import ConfigureStep from "./newjob/ConfigureStep";
import {
  FIELD_STEP,
  STEPS,
  STEP_TITLES,
  checkConfig,
  checkName,
  commonPopulations,
  isFinal,
  type ChosenTarget,
  type FieldErrors,
  type JobConfig,
  type StepName,
  type UploadItem,
} from "./newjob/model";
import ReviewStep from "./newjob/ReviewStep";
import TargetsStep from "./newjob/TargetsStep";
import UploadStep from "./newjob/UploadStep";

const VALIDATION_POLL_MS = 1500;

function keyOf(file: File): string {
  return `${file.name}:${file.size}:${file.lastModified}`;
}

function baseName(name: string): string {
  return name.replace(/\.vcf(\.gz)?$/i, "").replace(/\.gz$/i, "");
}

export interface NewJobPageProps {
  jobs?: JobService;
  files?: FileService;
  registry?: typeof defaultRegistryService;
}

export default function NewJobPage({
  jobs = defaultJobService,
  files = defaultFileService,
  registry = defaultRegistryService,
}: NewJobPageProps) {
  const { user } = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const preferredService = Number(params.get("service")) || null;

  const [step, setStep] = useState<StepName>("upload");
  const [items, setItems] = useState<UploadItem[]>([]);
  const fileObjects = useRef(new Map<string, File>());
  const [targets, setTargets] = useState<ChosenTarget[]>([]);
  const [config, setConfig] = useState<JobConfig>({
    build: "hg19",
    phasing: "eagle",
    population: "off",
    mode: "imputation",
    r2_filter: "0",
  });
  const buildTouched = useRef(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [submitError, setSubmitError] = useState<unknown>(null);
  const [submitting, setSubmitting] = useState(false);
  const inFlight = useRef(false);
  // one key per visit of the review step: a double click or a retry after a lost answer makes one job
  const [idempotencyKey, setIdempotencyKey] = useState<string>("");
  const [unfinished, setUnfinished] = useState<UnfinishedUpload[]>([]);

  const services = useApi((signal) => registry.services({}, signal), []);
  const panels = useApi((signal) => registry.panels(undefined, signal), []);
  const previous = useApi((signal) => files.files({ kind: "input" }, signal), []);

  // leaving the page pauses the uploads (choosing the file again resumes them); closing the tab asks first
  const itemsRef = useRef(items);
  useEffect(() => {
    itemsRef.current = items;
  });
  useEffect(
    () => () => {
      for (const item of itemsRef.current) if (item.state === "uploading") void item.handle?.pause();
    },
    [],
  );
  const uploading = items.some((item) => item.state === "uploading");
  useEffect(() => {
    if (!uploading) return;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [uploading]);

  const settled = items.filter((item) => item.state !== "uploading").length;
  useEffect(() => {
    if (!user) return;
    files.unfinishedUploads(user.id).then(setUnfinished, () => setUnfinished([]));
  }, [files, user, items.length, settled]);

  const clearErrors = useCallback((...fields: string[]) => {
    setErrors((current) => {
      const next = { ...current };
      for (const field of fields) delete next[field];
      return next;
    });
  }, []);

  const patch = useCallback((key: string, changes: Partial<UploadItem>) => {
    setItems((current) => current.map((item) => (item.key === key ? { ...item, ...changes } : item)));
  }, []);

  const pollValidation = useCallback(
    async (key: string, fileId: number) => {
      try {
        const validation = await files.validation(fileId);
        patch(key, { validation, validationError: undefined });
      } catch (error) {
        patch(key, { validationError: error });
      }
    },
    [files, patch],
  );

  const startUpload = useCallback(
    async (file: File) => {
      if (!user) return;
      const key = keyOf(file);
      fileObjects.current.set(key, file);
      setItems((current) => {
        const rest = current.filter((item) => item.key !== key);
        return [...rest, { key, name: file.name, size: file.size, progress: 0, state: "uploading" }];
      });
      try {
        const handle = await files.upload(file, user.id, {
          onProgress: (sent, total) => patch(key, { progress: total ? (sent / total) * 100 : 0 }),
          onResume: () => patch(key, { resumed: true }),
          onSuccess: (fileId) => {
            patch(key, { state: "uploaded", progress: 100, fileId, error: undefined });
            void pollValidation(key, fileId);
          },
          onError: (error) => patch(key, { state: "failed", error: uploadErrorMessage(error) }),
        });
        patch(key, { handle });
      } catch (error) {
        patch(key, { state: "failed", error: errorMessage(error) });
      }
    },
    [files, patch, pollValidation, user],
  );

  function addFiles(chosen: File[]) {
    clearErrors("input_files");
    for (const file of chosen) {
      const existing = items.find((item) => item.key === keyOf(file));
      if (existing && (existing.state === "uploading" || existing.state === "uploaded")) continue;
      void startUpload(file);
    }
  }

  async function pause(key: string) {
    const item = items.find((i) => i.key === key);
    await item?.handle?.pause();
    patch(key, { state: "paused" });
  }

  function resume(key: string) {
    const file = fileObjects.current.get(key);
    if (file) void startUpload(file);
  }

  async function remove(key: string) {
    const item = items.find((i) => i.key === key);
    if (item?.state === "uploading") await item.handle?.pause();
    setItems((current) => current.filter((i) => i.key !== key));
  }

  function usePrevious(file: StoredFile) {
    const key = `existing:${file.id}`;
    if (items.some((i) => i.fileId === file.id)) return;
    setItems((current) => [
      ...current,
      {
        key,
        name: file.name,
        size: file.size,
        progress: 100,
        state: "uploaded",
        fileId: file.id,
        validation: { file_id: file.id, status: file.status, report: file.validation },
      },
    ]);
  }

  async function discard(item: UnfinishedUpload) {
    try {
      await files.discardUpload(item);
    } finally {
      setUnfinished((current) => current.filter((u) => u.key !== item.key));
    }
  }

  // the pre-flight check runs on the server after the last byte: poll until each file is ready or rejected
  const pending = items.filter((item) => item.fileId !== undefined && !isFinal(item));
  useInterval(
    () => {
      for (const item of pending) if (item.fileId !== undefined) void pollValidation(item.key, item.fileId);
    },
    VALIDATION_POLL_MS,
    pending.length > 0,
  );

  const detectedBuild = useMemo(() => {
    const found = items.map((i) => i.validation?.report?.detected_build).find((b) => b === "hg19" || b === "hg38");
    return found ?? items.map((i) => i.validation?.report?.detected_build).find(Boolean) ?? null;
  }, [items]);

  useEffect(() => {
    if (!buildTouched.current && (detectedBuild === "hg19" || detectedBuild === "hg38")) {
      setConfig((c) => ({ ...c, build: detectedBuild }));
    }
  }, [detectedBuild]);

  const populations = useMemo(() => commonPopulations(targets), [targets]);
  useEffect(() => {
    setConfig((c) => (c.population === "off" || populations.includes(c.population) ? c : { ...c, population: "off" }));
  }, [populations]);

  function toggleTarget(service: ImputationService, panel: ReferencePanel) {
    clearErrors("targets", "service", "reference_panel");
    setTargets((current) =>
      current.some((t) => t.panel.id === panel.id)
        ? current.filter((t) => t.panel.id !== panel.id)
        : [...current, { serviceId: service.id, serviceName: service.name, panel }],
    );
  }

  function changeConfig(changes: Partial<JobConfig>) {
    if (changes.build) buildTouched.current = true;
    setConfig((c) => ({ ...c, ...changes }));
    clearErrors(...Object.keys(changes));
  }

  const uploadedAll = items.length > 0 && items.every((i) => i.state === "uploaded" && i.fileId !== undefined);
  const preflightOk = uploadedAll && items.every((i) => i.validation?.status === "ready");
  const rejected = items.filter((i) => i.validation?.status === "rejected");

  function blockers(current: StepName): string | null {
    switch (current) {
      case "upload":
        if (items.length === 0) return "Upload at least one file.";
        if (!uploadedAll) return "Wait for every upload to finish, or remove the ones that failed.";
        return null;
      case "preflight":
        if (rejected.length) return "Remove the rejected files (or upload fixed ones) to go on.";
        if (!preflightOk) return "The pre-flight check is still running.";
        return null;
      case "targets":
        return targets.length ? null : "Choose at least one reference panel.";
      default:
        return null;
    }
  }

  function goTo(next: StepName) {
    if (next === "review" && step !== "review") {
      setIdempotencyKey(newIdempotencyKey());
      if (!name.trim() && items[0]) setName(`${baseName(items[0].name)} imputation`);
    }
    setStep(next);
  }

  function next() {
    if (step === "configure") {
      const found = checkConfig(config, populations);
      if (Object.keys(found).length) {
        setErrors((e) => ({ ...e, ...found }));
        return;
      }
    }
    const index = STEPS.indexOf(step);
    const following = STEPS[index + 1];
    if (following) goTo(following);
  }

  async function submit() {
    if (inFlight.current) return; // a second click while the first request is out
    const nameErrors = checkName(name);
    if (Object.keys(nameErrors).length) {
      setErrors((e) => ({ ...e, ...nameErrors }));
      return;
    }
    inFlight.current = true;
    setSubmitting(true);
    setSubmitError(null);
    try {
      const job = await jobs.submit(
        {
          name: name.trim(),
          description: description.trim(),
          input_files: items.map((i) => i.fileId).filter((id): id is number => id !== undefined),
          build: config.build,
          phasing: config.phasing,
          population: config.population,
          mode: config.mode,
          r2_filter: Number(config.r2_filter),
        },
        targets.map((t) => ({ service: t.serviceId, reference_panel: t.panel.id })),
        idempotencyKey,
      );
      navigate(`/jobs/${job.id}`);
    } catch (error) {
      setErrors(fieldErrorsOf(error));
      setSubmitError(error);
    } finally {
      inFlight.current = false;
      setSubmitting(false);
    }
  }

  const stepIndex = STEPS.indexOf(step);
  const blocked = blockers(step);
  const stepsWithErrors = new Set(
    Object.entries(errors)
      .filter(([, messages]) => messages.length > 0)
      .map(([field]) => FIELD_STEP[field] ?? "review"),
  );

  return (
    <section aria-labelledby="newjob-heading">
      <h1 id="newjob-heading">New imputation job</h1>
      <ol className="stepper" aria-label="Steps">
        {STEPS.map((name, index) => (
          <li
            key={name}
            className={index === stepIndex ? "current" : index < stepIndex ? "done" : ""}
            aria-current={index === stepIndex ? "step" : undefined}
          >
            <button type="button" disabled={index >= stepIndex} onClick={() => goTo(name)}>
              {index + 1}. {STEP_TITLES[name]}
              {stepsWithErrors.has(name) && index !== stepIndex ? " (needs attention)" : ""}
            </button>
          </li>
        ))}
      </ol>

      {submitError !== null && step === "review" && (
        <ErrorAlert
          error={submitError}
          title={Object.keys(errors).length ? "The job was not accepted; see the fields marked below" : "The job was not submitted"}
        />
      )}

      <div className="step-body card">
        {step === "upload" && (
          <UploadStep
            items={items}
            onFiles={addFiles}
            onPause={pause}
            onResume={resume}
            onRemove={remove}
            previous={(previous.data?.results ?? []).filter((f) => f.status === "ready")}
            onUsePrevious={usePrevious}
            unfinished={unfinished}
            onDiscard={discard}
            errors={errors.input_files}
          />
        )}

        {step === "preflight" && (
          <div>
            <h2>Pre-flight check</h2>
            <p>Each file is read on the server before it can be submitted.</p>
            {items.map((item) =>
              item.validation ? (
                <div key={item.key}>
                  <ValidationReport name={item.name} validation={item.validation} />
                  {item.validation.status === "rejected" && (
                    <button type="button" onClick={() => void remove(item.key)}>
                      Remove {item.name}
                    </button>
                  )}
                </div>
              ) : (
                <article key={item.key} className="card report" aria-label={`Pre-flight report of ${item.name}`}>
                  <h3>{item.name}</h3>
                  <p role="status">Checking…</p>
                  <ErrorAlert error={item.validationError} />
                </article>
              ),
            )}
          </div>
        )}

        {step === "targets" && (
          <>
            <ErrorAlert error={services.error ?? panels.error} title="Could not load the services" />
            {(services.loading || panels.loading) && <p role="status">Loading services…</p>}
            <TargetsStep
              services={services.data?.results ?? []}
              panels={panels.data?.results ?? []}
              chosen={targets}
              onToggle={toggleTarget}
              errors={errors}
              preferredService={preferredService}
            />
          </>
        )}

        {step === "configure" && (
          <ConfigureStep
            config={config}
            onChange={changeConfig}
            populations={populations}
            errors={errors}
            detectedBuild={detectedBuild}
          />
        )}

        {step === "review" && (
          <ReviewStep
            name={name}
            description={description}
            onName={(value) => {
              setName(value);
              clearErrors("name");
            }}
            onDescription={setDescription}
            items={items}
            targets={targets}
            config={config}
            errors={errors}
            goTo={goTo}
          />
        )}
      </div>

      <div className="step-nav">
        {stepIndex > 0 && (
          <button type="button" onClick={() => goTo(STEPS[stepIndex - 1] ?? "upload")} disabled={submitting}>
            Back
          </button>
        )}
        {step !== "review" ? (
          <>
            <button type="button" className="primary" onClick={next} disabled={blocked !== null}>
              Next
            </button>
            {blocked && <span className="muted">{blocked}</span>}
          </>
        ) : (
          <button type="button" className="primary" onClick={submit} disabled={submitting} aria-busy={submitting}>
            {submitting ? "Submitting…" : targets.length > 1 ? `Submit ${targets.length} jobs` : "Submit job"}
          </button>
        )}
      </div>
    </section>
  );
}
