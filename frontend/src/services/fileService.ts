/**
 * The files context: resumable uploads (tus 1.0 at /api/files/uploads/, apps/files/api/uploads.py), the
 * pre-flight report, the file list and downloads.
 *
 * Uploads: 8 MiB chunks; the access token goes in the Authorization header of every tus request (read fresh
 * before each one, so a refresh mid-upload is picked up); the upload URL is remembered under a fingerprint of
 * (user, name, size, modification time) in tus-js-client's localStorage URL storage, so choosing the same file
 * again after a page reload continues from the server's offset instead of starting over.
 */

import { Upload, defaultOptions, type DetailedError, type HttpRequest, type UrlStorage } from "tus-js-client";
import { apiGateway, isApiError, type ApiGateway } from "./apiGateway";
import { session, type Session } from "./session";
import type { Page } from "./types";

export const TUS_ENDPOINT_PATH = "/api/files/uploads/";
export const CHUNK_SIZE = 8 * 1024 * 1024;
/** The server's FILES_TUS_BODY_IDLE_SECONDS (default 30 s): a PATCH whose connection died without a word keeps the
 * upload's lease until its body has been silent that long, and a resumed PATCH gets 409 until then. (One that
 * reaches the same server process takes over after 2 s instead; the retries still cover the worst case.) */
export const SERVER_BODY_IDLE_MS = 30_000;
/** Retries (tus-js-client waits these between attempts) that outlast a stale lease, so a silently dropped connection
 * resumes on its own instead of failing after 19 s. */
export const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];

export type FileStatus = "uploading" | "validating" | "ready" | "rejected";

export interface Problem {
  severity: "error" | "warning";
  code: string;
  message: string;
}

export interface ChromosomeSummary {
  name: string;
  variants: number;
  first_position: number;
  last_position: number;
}

/** apps/genomics/report.py VcfReport.to_dict(); an unreadable file has only `problems`. */
export interface ValidationReport {
  filename?: string;
  size_bytes?: number;
  content?: string;
  compression?: string;
  complete?: boolean;
  sorted?: boolean;
  vcf_version?: string | null;
  samples?: number;
  chromosomes?: ChromosomeSummary[];
  chr_prefix?: string | null;
  expected_build?: string | null;
  detected_build?: string;
  build_evidence?: string;
  variants?: number;
  snvs?: number;
  multiallelic?: number;
  phasing?: string;
  problems: Problem[];
  ok?: boolean;
}

export interface FileValidation {
  file_id: number;
  status: FileStatus;
  report: ValidationReport | null;
}

export interface StoredFile {
  id: number;
  owner_id: number;
  name: string;
  kind: "input" | "result";
  status: FileStatus;
  size: number;
  offset: number;
  sha256: string | null;
  job_id: string | null;
  validation: ValidationReport | null;
  created_at: string;
  updated_at: string | null;
  completed_at: string | null;
  expires_at: string | null;
}

export interface UploadCallbacks {
  onProgress?: (bytesSent: number, bytesTotal: number) => void;
  /** The upload continues one started earlier (after a reload), from this many bytes. */
  onResume?: (offset: number | null) => void;
  onSuccess: (fileId: number) => void;
  onError: (error: Error) => void;
}

export interface UploadHandle {
  /** Pause: the server keeps what it has; choosing the file again resumes. */
  pause(): Promise<void>;
}

export interface UnfinishedUpload {
  key: string;
  filename: string;
  size: number | null;
  createdAt: string;
  uploadUrl: string | null;
}

export interface FileServiceDeps {
  gateway?: ApiGateway;
  tokens?: Session;
  UploadClass?: typeof Upload;
  urlStorage?: UrlStorage;
  origin?: () => string;
}

/** The file id in a tus upload URL (…/api/files/uploads/<id>/). */
export function fileIdOfUploadUrl(url: string | null): number | null {
  const match = url?.match(/\/uploads\/(\d+)\/?(?:[?#].*)?$/);
  return match?.[1] ? Number(match[1]) : null;
}

function fingerprintOf(userId: number | string, file: { name: string; size: number; lastModified?: number }): string {
  return ["fip", String(userId), file.name, String(file.size), String(file.lastModified ?? 0)].join(":");
}

function tusStatus(error: DetailedError): number {
  return error.originalResponse ? error.originalResponse.getStatus() : 0;
}

/** A readable message for a failed tus request: the API's error envelope message when there is one. */
export function uploadErrorMessage(error: Error): string {
  const detailed = error as Partial<DetailedError>;
  const body = detailed.originalResponse?.getBody?.();
  if (body) {
    try {
      const parsed = JSON.parse(body) as { error?: { message?: unknown } };
      if (typeof parsed.error?.message === "string") return parsed.error.message;
    } catch {
      // not JSON: fall through
    }
  }
  return error.message.split(", originated from request")[0] ?? error.message;
}

export function createFileService(deps: FileServiceDeps = {}) {
  const gateway = deps.gateway ?? apiGateway;
  const tokens = deps.tokens ?? session;
  const UploadClass = deps.UploadClass ?? Upload;
  const urlStorage = deps.urlStorage ?? defaultOptions.urlStorage;
  const origin = deps.origin ?? (() => window.location.origin);
  // tus resolves the Location header against the endpoint, which must therefore be absolute
  const endpoint = () => new URL(TUS_ENDPOINT_PATH, origin()).toString();

  async function authorize(request: HttpRequest): Promise<void> {
    const token = await tokens.accessToken();
    if (token) request.setHeader("Authorization", `Bearer ${token}`);
  }

  return {
    /**
     * Start (or resume) the resumable upload of `file` for `userId`; `build` (hg19/hg38) tells the pre-flight
     * check which build to expect.
     */
    async upload(file: File, userId: number, callbacks: UploadCallbacks, build?: string): Promise<UploadHandle> {
      let upload: Upload | null = null;
      upload = new UploadClass(file, {
        endpoint: endpoint(),
        chunkSize: CHUNK_SIZE,
        retryDelays: RETRY_DELAYS,
        metadata: {
          filename: file.name,
          filetype: file.type || "application/gzip",
          ...(build ? { build } : {}),
        },
        fingerprint: (f: File) => Promise.resolve(fingerprintOf(userId, f)),
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        urlStorage,
        onBeforeRequest: authorize,
        onShouldRetry: (error, attempt) => {
          const status = tusStatus(error);
          if (status === 401) {
            void tokens.refresh(); // the next attempt's onBeforeRequest waits for it
            return attempt < 2;
          }
          const clientError = status >= 400 && status < 500 && status !== 409 && status !== 423;
          return !clientError;
        },
        onProgress: (sent, total) => callbacks.onProgress?.(sent, total),
        onSuccess: () => {
          const id = fileIdOfUploadUrl(upload?.url ?? null);
          if (id === null) callbacks.onError(new Error("The server did not say which file it created."));
          else callbacks.onSuccess(id);
        },
        onError: (error) => callbacks.onError(error),
      });
      const previous = await upload.findPreviousUploads();
      const latest = [...previous].sort((a, b) => b.creationTime.localeCompare(a.creationTime))[0];
      if (latest) {
        upload.resumeFromPreviousUpload(latest);
        callbacks.onResume?.(latest.size);
      }
      upload.start();
      const started = upload;
      return { pause: () => started.abort(false) };
    },

    /** Uploads of this user that were started in this browser and never finished (choose the file to resume). */
    async unfinishedUploads(userId: number): Promise<UnfinishedUpload[]> {
      const all = await urlStorage.findAllUploads();
      const prefix = `fip:${userId}:`;
      return all
        .filter((item) => item.urlStorageKey.includes(prefix))
        .map((item) => ({
          key: item.urlStorageKey,
          filename: item.metadata.filename ?? "(unnamed)",
          size: item.size,
          createdAt: item.creationTime,
          uploadUrl: item.uploadUrl,
        }));
    },

    /** Forget an unfinished upload here and delete what the server holds of it. */
    async discardUpload(item: UnfinishedUpload): Promise<void> {
      const id = fileIdOfUploadUrl(item.uploadUrl);
      if (id !== null) {
        try {
          await gateway.delete(`/api/files/${id}/`);
        } catch (error) {
          if (!(isApiError(error) && error.status === 404)) throw error;
        }
      }
      await urlStorage.removeUpload(item.key);
    },

    file: (id: number, signal?: AbortSignal) => gateway.get<StoredFile>(`/api/files/${id}/`, { signal }),
    files: (query: { kind?: "input" | "result"; job?: string; page?: number } = {}, signal?: AbortSignal) =>
      gateway.get<Page<StoredFile>>("/api/files/", { signal, query: { ...query, page_size: 50 } }),
    validation: (id: number, signal?: AbortSignal) =>
      gateway.get<FileValidation>(`/api/files/${id}/validation/`, { signal }),

    /**
     * Download a stored file: a short-lived signed link the browser opens itself (streamed to disk, no token
     * needed); for files not stored here, the bytes through /download/ with the token, saved from memory.
     */
    async download(id: number, filename: string): Promise<void> {
      let href: string;
      let revoke = false;
      try {
        const link = await gateway.get<{ url: string }>(`/api/files/${id}/download-url/`);
        href = link.url;
      } catch (error) {
        if (!(isApiError(error) && error.status === 409)) throw error;
        const blob = await gateway.get<Blob>(`/api/files/${id}/download/`, { responseType: "blob" });
        href = URL.createObjectURL(blob);
        revoke = true;
      }
      const anchor = document.createElement("a");
      anchor.href = href;
      anchor.download = filename;
      anchor.rel = "noopener";
      document.body.appendChild(anchor);
      anchor.click();
      anchor.remove();
      if (revoke) setTimeout(() => URL.revokeObjectURL(href), 60_000);
    },
  };
}

export const fileService = createFileService();
export type FileService = ReturnType<typeof createFileService>;
