import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ApiError, NETWORK_ERROR } from "../services/apiGateway";
import type { FileService, FileValidation } from "../services/fileService";
import type { Job, JobService } from "../services/jobService";
import type { ImputationService, ReferencePanel } from "../services/registryService";
import { renderPage } from "../test/fakes";
import NewJobPage from "./NewJobPage";

const SERVICE = {
  id: 2,
  name: "Local node",
  slug: "local-node",
  api_type: "cloudgene",
  health: { status: "healthy", checked_at: null, response_time_ms: 5, message: "" },
  requires_auth: false,
  location: { country: "ZA", city: "", institution: "", lat: null, lon: null },
  supported_builds: ["hg19"],
} as unknown as ImputationService;

const PANELS: ReferencePanel[] = [
  { id: 9, service_id: 2, slug: "demo", name: "Demo hg19", description: "", build: "hg19", populations: ["AFR", "EUR"], samples_count: 250, variants_count: 1000, is_available: true },
  { id: 10, service_id: 2, slug: "demo38", name: "Demo hg38", description: "", build: "hg38", populations: ["AFR"], samples_count: 250, variants_count: 1000, is_available: true },
];

const READY: FileValidation = {
  file_id: 31,
  status: "ready",
  report: { detected_build: "hg19", samples: 100, variants: 2000, chromosomes: [], phasing: "phased", problems: [{ severity: "warning", code: "few_variants", message: "Only 2000 variants." }] },
};

function page<T>(results: T[]) {
  return { count: results.length, next: null, previous: null, results };
}

function fakes(submit: JobService["submit"]) {
  const files = {
    upload: vi.fn(async (_file: File, _user: number, callbacks: Parameters<FileService["upload"]>[2]) => {
      callbacks.onProgress?.(50, 100);
      setTimeout(() => {
        callbacks.onProgress?.(100, 100);
        callbacks.onSuccess(31);
      }, 0);
      return { pause: vi.fn(async () => {}) };
    }),
    unfinishedUploads: vi.fn(async () => []),
    discardUpload: vi.fn(),
    files: vi.fn(async () => page([])),
    validation: vi.fn(async () => READY),
    file: vi.fn(),
    download: vi.fn(),
  } as unknown as FileService;
  const registry = {
    services: vi.fn(async () => page([SERVICE])),
    panels: vi.fn(async () => page(PANELS)),
    service: vi.fn(),
    health: vi.fn(),
  };
  const jobs = { submit } as unknown as JobService;
  return { files, registry, jobs };
}

async function walkToReview(submit: JobService["submit"], panelNames = ["Demo hg19"]) {
  const { files, registry, jobs } = fakes(submit);
  renderPage(<NewJobPage jobs={jobs} files={files} registry={registry} />, {
    route: "/jobs/new",
    path: "/jobs/new",
    extraRoutes: [{ path: "/jobs/:id", element: <p>Job detail page</p> }],
  });
  await waitFor(() => expect(screen.getByLabelText("Choose VCF files")).toBeTruthy());
  await waitFor(() => expect(screen.queryByText("Loading your session…")).toBeNull());
  const file = new File(["x".repeat(100)], "study.chr20.vcf.gz", { lastModified: 1 });
  fireEvent.change(screen.getByLabelText("Choose VCF files"), { target: { files: [file] } });
  const bar = await screen.findByRole("progressbar", { name: "Upload of study.chr20.vcf.gz" });
  await waitFor(() => expect(bar.getAttribute("aria-valuenow")).toBe("100"));
  await screen.findByText("Uploaded");

  fireEvent.click(screen.getByRole("button", { name: "Next" }));
  await screen.findByText("Ready: the file passed the pre-flight check");
  expect(screen.getByText(/Only 2000 variants/)).toBeTruthy();

  fireEvent.click(screen.getByRole("button", { name: "Next" }));
  for (const name of panelNames) fireEvent.click(await screen.findByLabelText(new RegExp(`^${name}`)));
  fireEvent.click(screen.getByRole("button", { name: "Next" }));

  await screen.findByLabelText("Population (allele-frequency check)");
  return { files, jobs };
}

describe("NewJobPage", () => {
  it("shows the API's field errors next to the fields they name", async () => {
    const submit = vi.fn(async () => {
      throw new ApiError({
        status: 400,
        code: "VALIDATION_ERROR",
        message: "Invalid input.",
        details: { name: ["A job of that name is running."], population: ["Demo hg19 has no population 'AFR'."] },
      });
    });
    await walkToReview(submit);
    fireEvent.change(screen.getByLabelText("Population (allele-frequency check)"), { target: { value: "AFR" } });
    fireEvent.click(screen.getByRole("button", { name: "Next" }));

    fireEvent.click(await screen.findByRole("button", { name: "Submit job" }));

    const nameError = await screen.findByText("A job of that name is running.");
    const nameInput = screen.getByLabelText("Job name");
    expect(nameInput.getAttribute("aria-describedby")).toBe(nameError.id);
    expect(nameInput.getAttribute("aria-invalid")).toBe("true");
    const populationError = screen.getByText("Demo hg19 has no population 'AFR'.");
    expect(populationError.closest(".review-row")?.querySelector("dt")?.textContent).toBe("Population");
    expect(screen.getByRole("alert").textContent).toContain("The job was not accepted; see the fields marked below");
    expect(screen.getByText(/1\. Upload/).textContent).not.toContain("needs attention");
    expect(screen.getByText(/4\. Settings/).textContent).toContain("needs attention");

    // the population error is also shown on the settings step, next to its field
    fireEvent.click(screen.getByRole("button", { name: /4\. Settings/ }));
    const select = screen.getByLabelText("Population (allele-frequency check)");
    expect(document.getElementById(select.getAttribute("aria-describedby") ?? "")?.textContent).toBe(
      "Demo hg19 has no population 'AFR'.",
    );
  });

  it("checks the settings and the name itself before anything is sent", async () => {
    const submit = vi.fn();
    await walkToReview(submit);
    fireEvent.change(screen.getByLabelText(/r² filter/), { target: { value: "2" } });
    fireEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(screen.getByText("Enter a number from 0 to 1.").id).toBe("cfg-r2-error");

    fireEvent.change(screen.getByLabelText(/r² filter/), { target: { value: "0.3" } });
    fireEvent.click(screen.getByRole("button", { name: "Next" }));
    fireEvent.change(await screen.findByLabelText("Job name"), { target: { value: "  " } });
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));

    expect(screen.getByText("Give the job a name.").id).toBe("job-name-error");
    expect(submit).not.toHaveBeenCalled();
  });

  it("sends one request for a double click, and the same idempotency key when retried", async () => {
    let fail: (error: unknown) => void = () => {};
    const submit = vi
      .fn<JobService["submit"]>()
      .mockImplementationOnce(() => new Promise<Job>((_, reject) => (fail = reject)))
      .mockImplementationOnce(async () => ({ id: "job-77" }) as Job);
    await walkToReview(submit);
    fireEvent.click(screen.getByRole("button", { name: "Next" }));
    const button = await screen.findByRole("button", { name: "Submit job" });
    expect(document.querySelectorAll(".review-row.has-error")).toHaveLength(0);

    fireEvent.click(button);
    fireEvent.click(button);
    expect(submit).toHaveBeenCalledTimes(1);

    await act(async () => fail(new ApiError({ status: 0, code: NETWORK_ERROR, message: "Failed to fetch" })));
    expect(await screen.findByText(/Failed to fetch/)).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));

    await screen.findByText("Job detail page");
    expect(submit).toHaveBeenCalledTimes(2);
    const [firstKey, secondKey] = submit.mock.calls.map((call) => call[2]);
    expect(firstKey).toBeTruthy();
    expect(secondKey).toBe(firstKey);
    const [settings, targets] = submit.mock.calls[0] ?? [];
    expect(settings).toMatchObject({ name: "study.chr20 imputation", input_files: [31], build: "hg19", population: "off", r2_filter: 0 });
    expect(targets).toEqual([{ service: 2, reference_panel: 9 }]);
  });

  it("makes a new key for a new visit of the review step, and a batch for several panels", async () => {
    const submit = vi
      .fn<JobService["submit"]>()
      .mockImplementationOnce(async () => {
        throw new ApiError({ status: 503, code: "SERVICE_UNAVAILABLE", message: "Try again later." });
      })
      .mockImplementationOnce(async () => ({ id: "batch-1" }) as Job);
    await walkToReview(submit, ["Demo hg19", "Demo hg38"]);
    const populations = within(screen.getByLabelText("Population (allele-frequency check)"));
    expect(populations.getAllByRole("option").map((o) => o.textContent)).toEqual(["Off (no frequency check)", "AFR"]);
    fireEvent.click(screen.getByRole("button", { name: "Next" }));
    fireEvent.click(await screen.findByRole("button", { name: "Submit 2 jobs" }));
    await screen.findByText(/Try again later/);

    fireEvent.click(screen.getByRole("button", { name: "Back" }));
    fireEvent.click(screen.getByRole("button", { name: "Next" }));
    fireEvent.click(await screen.findByRole("button", { name: "Submit 2 jobs" }));

    await screen.findByText("Job detail page");
    const [firstKey, secondKey] = submit.mock.calls.map((call) => call[2]);
    expect(secondKey).not.toBe(firstKey);
    expect(submit.mock.calls[1]?.[1]).toEqual([
      { service: 2, reference_panel: 9 },
      { service: 2, reference_panel: 10 },
    ]);
  });
});
