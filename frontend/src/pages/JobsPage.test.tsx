import { act, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Job, JobService } from "../services/jobService";
import { FakeWebSocket, renderPage } from "../test/fakes";
import JobsPage from "./JobsPage";

const JOB = {
  id: "0f6b",
  name: "chr20 study",
  service: { id: 2, name: "Local node", slug: "local" },
  reference_panel: { id: 9, name: "Demo hg19", slug: "demo" },
  is_batch: false,
  status: "queued",
  stage: "submitted",
  progress: 0,
  auth_paused: false,
  created_at: "2026-01-01T10:00:00Z",
} as Job;

function service(jobs: Job[]) {
  return {
    jobs: vi.fn(async () => ({ count: jobs.length, next: null, previous: null, results: jobs })),
  } as unknown as JobService;
}

describe("JobsPage", () => {
  it("updates a row's status live from a job.status socket message", async () => {
    renderPage(<JobsPage service={service([JOB])} />, { route: "/jobs", path: "/jobs" });
    const row = (await screen.findByText("chr20 study")).closest("tr")!;
    expect(within(row).getByText("Queued")).toBeTruthy();

    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));
    const socket = FakeWebSocket.latest();
    expect(socket.protocols).toEqual(["bearer.access-1"]);
    act(() => {
      socket.open();
      socket.receive({ type: "job.status", data: { job_id: "0f6b", status: "running", stage: "running", progress: 40 } });
    });

    expect(within(row).getByText("Running")).toBeTruthy();
    expect(within(row).getByText("Running · 40%")).toBeTruthy();
    expect(within(row).queryByText("Queued")).toBeNull();
  });

  it("passes the status filter and search to the API from the address", async () => {
    const jobs = service([]);
    renderPage(<JobsPage service={jobs} />, { route: "/jobs?status=failed&search=chr20", path: "/jobs" });

    expect(await screen.findByText("No job matches these filters.")).toBeTruthy();
    expect(jobs.jobs).toHaveBeenCalledWith({ status: "failed", search: "chr20", page: 1 }, expect.anything());
    expect((screen.getByLabelText("Status") as HTMLSelectElement).value).toBe("failed");
  });
});
