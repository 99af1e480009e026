import { fireEvent, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { FileService } from "../services/fileService";
import type { JobDetail, JobService } from "../services/jobService";
import { renderPage } from "../test/fakes";
import JobDetailPage from "./JobDetailPage";

function detail(overrides: Partial<JobDetail>): JobDetail {
  return {
    id: "j1",
    name: "chr20 study",
    description: "",
    user_id: 7,
    service: { id: 2, name: "TOPMed", slug: "topmed" },
    reference_panel: { id: 9, name: "TOPMed r3", slug: "r3" },
    parent_id: null,
    is_batch: false,
    status: "running",
    stage: "running",
    progress: 30,
    message: "",
    queue_position: null,
    external_job_id: "job-2026",
    build: "hg38",
    phasing: "eagle",
    population: "off",
    mode: "imputation",
    r2_filter: 0,
    input_format: "vcf.gz",
    input_files: [31],
    result_files: [],
    error: null,
    auth_paused: false,
    auth_message: null,
    cancel_requested: false,
    attempt: 1,
    retry_of: null,
    created_at: "2026-01-01T10:00:00Z",
    started_at: null,
    completed_at: null,
    duration_seconds: null,
    retire_at: null,
    qc_summary: null,
    ...overrides,
  };
}

const EMPTY = { count: 0, next: null, previous: null, results: [] };

function fakeJobs(job: JobDetail, extra: Partial<JobService> = {}) {
  return {
    job: vi.fn(async () => job),
    history: vi.fn(async () => ({
      ...EMPTY,
      results: [{ status: "queued", stage: "queued", progress: 0, message: "Queued", timestamp: "2026-01-01T10:00:00Z" }],
    })),
    logs: vi.fn(async () => ({
      ...EMPTY,
      results: [{ step: "QC", index: 0, level: "info", message: "Checked 2000 variants", time: null, url: null }],
    })),
    cancel: vi.fn(),
    retry: vi.fn(),
    ...extra,
  } as unknown as JobService;
}

describe("JobDetailPage", () => {
  it("tells the user to replace the service token when the job is paused for it", async () => {
    const jobs = fakeJobs(detail({ auth_paused: true, auth_message: "The token was refused (401)." }));
    renderPage(<JobDetailPage jobs={jobs} />, { route: "/jobs/j1", path: "/jobs/:id" });

    const banner = (await screen.findByText(/did not accept your API token/)).closest("[role=alert]")!;
    expect(banner.textContent).toContain("TOPMed");
    expect(banner.textContent).toContain("The token was refused (401).");
    const link = screen.getByRole("link", { name: "Settings → Service credentials" });
    expect(link.getAttribute("href")).toBe("/settings#credentials");
    expect(await screen.findByText(/Checked 2000 variants/)).toBeTruthy();
    expect(screen.getByRole("progressbar", { name: "Job progress" }).getAttribute("aria-valuenow")).toBe("30");
  });

  it("shows no banner for a job that is not paused", async () => {
    renderPage(<JobDetailPage jobs={fakeJobs(detail({}))} />, { route: "/jobs/j1", path: "/jobs/:id" });
    await screen.findByRole("heading", { name: "chr20 study" });
    expect(screen.queryByText(/did not accept your API token/)).toBeNull();
  });

  it("retries a failed job and opens the new one", async () => {
    const retry = vi.fn(async () => detail({ id: "j2", name: "chr20 study (retry)" }));
    const jobs = fakeJobs(detail({ status: "failed", error: { category: "remote_pipeline", message: "QC failed" } }), {
      retry,
    } as Partial<JobService>);
    renderPage(<JobDetailPage jobs={jobs} />, {
      route: "/jobs/j1",
      path: "/jobs/:id",
      extraRoutes: [{ path: "/jobs/j2", element: <p>New attempt page</p> }],
    });

    expect(await screen.findByText(/QC failed/)).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Retry" }));

    expect(await screen.findByText("New attempt page")).toBeTruthy();
    expect(retry).toHaveBeenCalledWith("j1");
  });

  it("downloads a result file with its button", async () => {
    const download = vi.fn(async () => {});
    const jobs = fakeJobs(
      detail({
        status: "completed",
        stage: "done",
        progress: 100,
        result_files: [{ file_id: 80, name: "chr20.zip", result_type: "imputed", size: 2048, sha256: null }],
      }),
    );
    renderPage(<JobDetailPage jobs={jobs} files={{ download } as unknown as FileService} />, {
      route: "/jobs/j1",
      path: "/jobs/:id",
    });

    fireEvent.click(await screen.findByRole("button", { name: "Download chr20.zip" }));
    expect(download).toHaveBeenCalledWith(80, "chr20.zip");
  });
});
