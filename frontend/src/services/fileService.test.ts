import type { HttpRequest, PreviousUpload, Upload, UploadOptions, UrlStorage } from "tus-js-client";
import { describe, expect, it, vi } from "vitest";
import { jsonResponse } from "../test/fakes";
import { createApiGateway } from "./apiGateway";
import {
  CHUNK_SIZE,
  RETRY_DELAYS,
  SERVER_BODY_IDLE_MS,
  createFileService,
  fileIdOfUploadUrl,
} from "./fileService";
import { Session } from "./session";

class FakeUpload {
  static last: FakeUpload | null = null;
  static previous: PreviousUpload[] = [];
  url: string | null = null;
  started = false;
  resumedFrom: PreviousUpload | null = null;
  constructor(
    public file: File,
    public options: UploadOptions,
  ) {
    FakeUpload.last = this;
  }
  findPreviousUploads() {
    return Promise.resolve(FakeUpload.previous);
  }
  resumeFromPreviousUpload(previous: PreviousUpload) {
    this.resumedFrom = previous;
    this.url = previous.uploadUrl;
  }
  start() {
    this.started = true;
  }
  abort() {
    return Promise.resolve();
  }
}

function memoryStorage(items: PreviousUpload[] = []): UrlStorage {
  return {
    findAllUploads: async () => items,
    findUploadsByFingerprint: async () => items,
    removeUpload: vi.fn(async () => {}),
    addUpload: async () => "key",
  };
}

function setup(fetchMock = vi.fn<typeof fetch>(async () => jsonResponse({}))) {
  const store = new Session({ gateway: createApiGateway({ fetchImpl: fetchMock }) });
  store.set({ access: "acc-1", refresh: "ref-1" });
  const urlStorage = memoryStorage();
  const files = createFileService({
    gateway: createApiGateway({ fetchImpl: fetchMock, getToken: () => store.accessToken() }),
    tokens: store,
    UploadClass: FakeUpload as unknown as typeof Upload,
    urlStorage,
    origin: () => "http://platform.test",
  });
  return { files, store, fetchMock, urlStorage };
}

const FILE = new File(["##fileformat=VCFv4.2\n"], "study.chr20.vcf.gz", { lastModified: 42 });

describe("fileService uploads (tus)", () => {
  it("uploads to the absolute tus endpoint in 8 MiB chunks with the file name in the metadata", async () => {
    FakeUpload.previous = [];
    const { files } = setup();
    const onSuccess = vi.fn();

    await files.upload(FILE, 7, { onSuccess, onError: vi.fn() }, "hg19");

    const upload = FakeUpload.last!;
    expect(upload.started).toBe(true);
    expect(upload.options.endpoint).toBe("http://platform.test/api/files/uploads/");
    expect(upload.options.chunkSize).toBe(CHUNK_SIZE);
    expect(CHUNK_SIZE).toBe(8 * 1024 * 1024);
    expect(upload.options.metadata).toMatchObject({ filename: "study.chr20.vcf.gz", build: "hg19" });
    expect(upload.options.storeFingerprintForResuming).toBe(true);
    await expect(upload.options.fingerprint!(FILE, upload.options)).resolves.toBe("fip:7:study.chr20.vcf.gz:21:42");

    upload.url = "http://platform.test/api/files/uploads/31/";
    upload.options.onSuccess!({ lastResponse: {} as never });
    expect(onSuccess).toHaveBeenCalledWith(31);
  });

  it("keeps retrying past the server's body idle timeout, when a stale PATCH's lease is given up", async () => {
    FakeUpload.previous = [];
    const { files } = setup();
    await files.upload(FILE, 7, { onSuccess: vi.fn(), onError: vi.fn() });

    const delays = FakeUpload.last!.options.retryDelays!;
    expect(delays).toEqual(RETRY_DELAYS);
    expect(delays.reduce((total, delay) => total + delay, 0)).toBeGreaterThan(SERVER_BODY_IDLE_MS);
  });

  it("puts a fresh access token on every tus request", async () => {
    FakeUpload.previous = [];
    const { files, store } = setup();
    await files.upload(FILE, 7, { onSuccess: vi.fn(), onError: vi.fn() });
    const headers: Record<string, string> = {};
    const request = { setHeader: (name: string, value: string) => (headers[name] = value) } as unknown as HttpRequest;

    await FakeUpload.last!.options.onBeforeRequest!(request);
    expect(headers.Authorization).toBe("Bearer acc-1");

    store.set({ access: "acc-2", refresh: "ref-2" });
    await FakeUpload.last!.options.onBeforeRequest!(request);
    expect(headers.Authorization).toBe("Bearer acc-2");
  });

  it("resumes the upload it finds under the file's fingerprint (e.g. after a reload)", async () => {
    FakeUpload.previous = [
      {
        size: 21,
        metadata: { filename: "study.chr20.vcf.gz" },
        creationTime: "2026-01-01T00:00:00Z",
        urlStorageKey: "tus::fip:7:study::1",
        uploadUrl: "http://platform.test/api/files/uploads/12/",
        parallelUploadUrls: null,
      },
    ];
    const { files } = setup();
    const onResume = vi.fn();

    await files.upload(FILE, 7, { onSuccess: vi.fn(), onError: vi.fn(), onResume });

    expect(FakeUpload.last!.resumedFrom?.uploadUrl).toBe("http://platform.test/api/files/uploads/12/");
    expect(onResume).toHaveBeenCalledWith(21);
    expect(FakeUpload.last!.started).toBe(true);
  });

  it("refreshes the session on a 401 and retries; gives up on other client errors", async () => {
    FakeUpload.previous = [];
    const fetchMock = vi.fn<typeof fetch>(async () => jsonResponse({ access: "acc-9", refresh: "ref-9" }));
    const { files, store } = setup(fetchMock);
    await files.upload(FILE, 7, { onSuccess: vi.fn(), onError: vi.fn() });
    const retry = FakeUpload.last!.options.onShouldRetry!;
    const failure = (status: number) => ({ originalResponse: { getStatus: () => status } }) as never;

    expect(retry(failure(401), 0, {})).toBe(true);
    await vi.waitFor(() => expect(store.tokens()?.access).toBe("acc-9"));
    expect(fetchMock.mock.calls[0]?.[0]).toBe("/api/auth/refresh/");
    expect(retry(failure(413), 0, {})).toBe(false);
    expect(retry(failure(409), 0, {})).toBe(true);
    expect(retry(failure(502), 0, {})).toBe(true);
  });

  it("reads the file id from an upload URL", () => {
    expect(fileIdOfUploadUrl("http://h/api/files/uploads/5/")).toBe(5);
    expect(fileIdOfUploadUrl("/api/files/uploads/77")).toBe(77);
    expect(fileIdOfUploadUrl(null)).toBeNull();
  });
});

describe("fileService reports and downloads", () => {
  it("reads the pre-flight report", async () => {
    const fetchMock = vi.fn<typeof fetch>(async () =>
      jsonResponse({ file_id: 3, status: "ready", report: { problems: [] } }),
    );
    const { files } = setup(fetchMock);

    await expect(files.validation(3)).resolves.toEqual({ file_id: 3, status: "ready", report: { problems: [] } });
    expect(fetchMock.mock.calls[0]?.[0]).toBe("/api/files/3/validation/");
  });

  it("opens a signed link for a download, and falls back to the bytes when the file has no link", async () => {
    const clicked: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this.getAttribute("href") ?? "");
    });
    URL.createObjectURL = vi.fn(() => "blob:result");
    URL.revokeObjectURL = vi.fn();
    const fetchMock = vi.fn<typeof fetch>(async (url) => {
      if (String(url) === "/api/files/1/download-url/") return jsonResponse({ url: "/api/files/signed/tok/" });
      if (String(url) === "/api/files/2/download-url/")
        return jsonResponse({ error: { code: "CONFLICT", message: "not stored here" } }, 409);
      return new Response("bytes", { status: 200, headers: { "Content-Type": "application/octet-stream" } });
    });
    const { files } = setup(fetchMock);

    await files.download(1, "a.zip");
    await files.download(2, "b.zip");

    expect(clicked).toEqual(["/api/files/signed/tok/", "blob:result"]);
    expect(fetchMock.mock.calls.map((c) => c[0])).toEqual([
      "/api/files/1/download-url/",
      "/api/files/2/download-url/",
      "/api/files/2/download/",
    ]);
  });
});
