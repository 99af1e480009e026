import { describe, expect, it, vi } from "vitest";
import { jsonResponse } from "../test/fakes";
import { createApiGateway } from "./apiGateway";
import { createJobService, type JobSettings } from "./jobService";
import { createRegistryService } from "./registryService";

const SETTINGS: JobSettings = {
  name: "chr20",
  input_files: [5],
  build: "hg19",
  phasing: "eagle",
  population: "off",
  mode: "imputation",
  r2_filter: 0,
};

function setup(respond: (url: string) => Response = () => jsonResponse({ id: "j1" }, 201)) {
  const fetchMock = vi.fn<typeof fetch>(async (url) => respond(String(url)));
  const gateway = createApiGateway({ fetchImpl: fetchMock });
  return { fetchMock, jobs: createJobService(gateway), registry: createRegistryService(gateway) };
}

describe("jobService", () => {
  it("submits one target to /api/jobs/ with the idempotency key", async () => {
    const { fetchMock, jobs } = setup();

    await jobs.submit(SETTINGS, [{ service: 2, reference_panel: 9 }], "key-1");

    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/jobs/");
    expect(new Headers(init?.headers).get("Idempotency-Key")).toBe("key-1");
    expect(JSON.parse(String(init?.body))).toEqual({ ...SETTINGS, service: 2, reference_panel: 9 });
  });

  it("submits several targets as one batch", async () => {
    const { fetchMock, jobs } = setup();
    const targets = [
      { service: 2, reference_panel: 9 },
      { service: 3, reference_panel: 11 },
    ];

    await jobs.submit(SETTINGS, targets, "key-2");

    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/jobs/batch/");
    expect(JSON.parse(String(init?.body))).toEqual({ ...SETTINGS, targets });
    expect(new Headers(init?.headers).get("Idempotency-Key")).toBe("key-2");
  });

  it("lists jobs with the status and search filters", async () => {
    const { fetchMock, jobs } = setup(() => jsonResponse({ count: 0, next: null, previous: null, results: [] }));

    await jobs.jobs({ status: "running", search: "chr 20", page: 2 });
    await jobs.jobs({ status: "", page: 1 });

    expect(fetchMock.mock.calls[0]?.[0]).toBe("/api/jobs/?status=running&search=chr+20&page=2");
    expect(fetchMock.mock.calls[1]?.[0]).toBe("/api/jobs/");
  });

  it("reads every page of the logs", async () => {
    const { fetchMock, jobs } = setup((url) =>
      url.includes("page=1")
        ? jsonResponse({ count: 2, next: "http://x/api/jobs/j/logs/?page=2", previous: null, results: [{ index: 0 }] })
        : jsonResponse({ count: 2, next: null, previous: "http://x", results: [{ index: 1 }] }),
    );

    const logs = await jobs.logs("j");

    expect(logs.results).toEqual([{ index: 0 }, { index: 1 }]);
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it("posts cancel and retry", async () => {
    const { fetchMock, jobs } = setup(() => jsonResponse({ id: "new" }, 201));
    await jobs.cancel("a");
    await expect(jobs.retry("a")).resolves.toEqual({ id: "new" });
    expect(fetchMock.mock.calls.map((c) => [c[0], c[1]?.method])).toEqual([
      ["/api/jobs/a/cancel/", "POST"],
      ["/api/jobs/a/retry/", "POST"],
    ]);
  });

  it("answers null for the dashboard statistics when the endpoint is missing", async () => {
    const { jobs } = setup(() => jsonResponse({ error: { code: "NOT_FOUND", message: "Not found." } }, 404));
    await expect(jobs.dashboard()).resolves.toBeNull();
  });
});

describe("registryService", () => {
  it("filters services by type, health_status and country, and panels by service", async () => {
    const { fetchMock, registry } = setup(() => jsonResponse({ count: 0, next: null, previous: null, results: [] }));

    await registry.services({ api_type: "wes", health_status: "healthy", country: "ZA" });
    await registry.panels(4);
    await registry.panels();

    expect(fetchMock.mock.calls.map((c) => c[0])).toEqual([
      "/api/services/?api_type=wes&health_status=healthy&country=ZA&page_size=100",
      "/api/reference-panels/?service=4&page_size=100",
      "/api/reference-panels/?page_size=100",
    ]);
  });
});
