/**
 * Small typed wrapper around fetch for talking to the platform's HTTP API.
 *
 * - Paths are resolved against a base path ("" by default: same origin).
 * - Request bodies are sent as JSON; JSON responses are parsed.
 * - When a token getter yields a token, `Authorization: Bearer <token>` is sent.
 * - A 401 answer is offered once to `onUnauthorized` (the session refreshes its
 *   tokens there); when it says the tokens changed, the request is sent again.
 * - Failed responses are turned into a thrown {@link ApiError}. The platform's
 *   error envelope `{"error": {"code", "message", "details"?}, "request_id"}`
 *   is mapped field by field; any other body becomes code INTERNAL_ERROR with
 *   the HTTP status text as its message.
 */

export interface ErrorEnvelope {
  error: {
    code: string;
    message: string;
    details?: unknown;
  };
  request_id?: string | null;
}

export const INTERNAL_ERROR = "INTERNAL_ERROR";
export const NETWORK_ERROR = "NETWORK_ERROR";

export interface ApiErrorInit {
  status: number;
  code: string;
  message: string;
  details?: unknown;
  requestId?: string | null;
  /** Parsed response body when it was JSON but not an error envelope. */
  body?: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly requestId: string | null;
  readonly body: unknown;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.name = "ApiError";
    this.status = init.status;
    this.code = init.code;
    this.details = init.details;
    this.requestId = init.requestId ?? null;
    this.body = init.body;
  }
}

export function isApiError(value: unknown): value is ApiError {
  return value instanceof ApiError;
}

export function isErrorEnvelope(value: unknown): value is ErrorEnvelope {
  if (typeof value !== "object" || value === null) return false;
  const error = (value as { error?: unknown }).error;
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return typeof code === "string" && typeof message === "string";
}

export type TokenGetter = () =>
  | string
  | null
  | undefined
  | Promise<string | null | undefined>;

export type QueryValue = string | number | boolean | null | undefined;

export interface ApiGatewayOptions {
  /** Prefix for every request path; "" means same origin, root-relative. */
  basePath?: string;
  /** Returns the current access token, if any. */
  getToken?: TokenGetter;
  /** Defaults to the global fetch, looked up at call time. */
  fetchImpl?: typeof fetch;
  /**
   * Called when an authenticated request answers 401; resolve true when a
   * retry may succeed (for instance after a token refresh). Called at most
   * once per request.
   */
  onUnauthorized?: () => Promise<boolean>;
}

export interface RequestOptions {
  method?: string;
  /** Serialised with JSON.stringify when not undefined. */
  body?: unknown;
  query?: Record<string, QueryValue>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** "blob" returns the body as a Blob (downloads); JSON otherwise. */
  responseType?: "json" | "blob";
  /** Send no Authorization header and never refresh (login, refresh). */
  anonymous?: boolean;
}

export interface ApiGateway {
  request<T>(path: string, options?: RequestOptions): Promise<T>;
  get<T>(path: string, options?: Omit<RequestOptions, "method" | "body">): Promise<T>;
  post<T>(path: string, body?: unknown, options?: Omit<RequestOptions, "method" | "body">): Promise<T>;
  put<T>(path: string, body?: unknown, options?: Omit<RequestOptions, "method" | "body">): Promise<T>;
  patch<T>(path: string, body?: unknown, options?: Omit<RequestOptions, "method" | "body">): Promise<T>;
  delete<T>(path: string, options?: Omit<RequestOptions, "method" | "body">): Promise<T>;
}

function buildUrl(basePath: string, path: string, query?: Record<string, QueryValue>): string {
  const base = basePath.endsWith("/") ? basePath.slice(0, -1) : basePath;
  const suffix = path.startsWith("/") ? path : `/${path}`;
  let url = `${base}${suffix}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) params.append(key, String(value));
    }
    const qs = params.toString();
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  }
  return url;
}

function isJsonContentType(response: Response): boolean {
  const type = response.headers.get("content-type") ?? "";
  return /\bjson\b/i.test(type);
}

async function readBody(response: Response): Promise<{ text: string; json: unknown; isJson: boolean }> {
  const text = await response.text();
  if (text === "") return { text, json: undefined, isJson: false };
  try {
    return { text, json: JSON.parse(text) as unknown, isJson: true };
  } catch {
    return { text, json: undefined, isJson: false };
  }
}

async function toApiError(response: Response): Promise<ApiError> {
  const headerRequestId = response.headers.get("x-request-id");
  const { json, isJson } = await readBody(response);

  if (isJson && isErrorEnvelope(json)) {
    return new ApiError({
      status: response.status,
      code: json.error.code,
      message: json.error.message,
      details: json.error.details,
      requestId: json.request_id ?? headerRequestId,
    });
  }

  return new ApiError({
    status: response.status,
    code: INTERNAL_ERROR,
    message: response.statusText || `HTTP ${response.status}`,
    requestId: headerRequestId,
    body: isJson ? json : undefined,
  });
}

export function createApiGateway(options: ApiGatewayOptions = {}): ApiGateway {
  const basePath = options.basePath ?? "";

  async function send(path: string, init: RequestOptions): Promise<{ response: Response; authed: boolean }> {
    const headers: Record<string, string> = { Accept: "application/json", ...init.headers };
    const hasBody = init.body !== undefined;
    if (hasBody) headers["Content-Type"] = "application/json";

    const token = !init.anonymous && options.getToken ? await options.getToken() : undefined;
    if (token) headers["Authorization"] = `Bearer ${token}`;

    const fetchFn = options.fetchImpl ?? globalThis.fetch;
    try {
      const response = await fetchFn(buildUrl(basePath, path, init.query), {
        method: init.method ?? (hasBody ? "POST" : "GET"),
        headers,
        body: hasBody ? JSON.stringify(init.body) : undefined,
        signal: init.signal,
      });
      return { response, authed: Boolean(token) };
    } catch (cause) {
      // Let callers tell a cancelled request apart from a failed one.
      if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
      throw new ApiError({
        status: 0,
        code: NETWORK_ERROR,
        message: cause instanceof Error ? cause.message : "Network request failed",
      });
    }
  }

  async function request<T>(path: string, init: RequestOptions = {}): Promise<T> {
    let { response, authed } = await send(path, init);
    if (response.status === 401 && authed && options.onUnauthorized && (await options.onUnauthorized())) {
      ({ response } = await send(path, init));
    }

    if (!response.ok) throw await toApiError(response);

    if (response.status === 204 || response.status === 205) return undefined as T;
    if (init.responseType === "blob") return (await response.blob()) as T;
    const { text, json, isJson } = await readBody(response);
    if (isJson) return json as T;
    if (text !== "" && isJsonContentType(response)) {
      throw new ApiError({
        status: response.status,
        code: INTERNAL_ERROR,
        message: "Malformed JSON in response",
      });
    }
    return (text === "" ? undefined : text) as T;
  }

  return {
    request,
    get: (path, opts) => request(path, { ...opts, method: "GET" }),
    post: (path, body, opts) => request(path, { ...opts, method: "POST", body }),
    put: (path, body, opts) => request(path, { ...opts, method: "PUT", body }),
    patch: (path, body, opts) => request(path, { ...opts, method: "PATCH", body }),
    delete: (path, opts) => request(path, { ...opts, method: "DELETE" }),
  };
}

let defaultTokenGetter: TokenGetter | undefined;
let defaultUnauthorizedHandler: (() => Promise<boolean>) | undefined;

/** Sets (or clears, with undefined) the token source of the default gateway. */
export function setDefaultTokenGetter(getter: TokenGetter | undefined): void {
  defaultTokenGetter = getter;
}

/** Sets (or clears) what the default gateway does on a 401 (the session's token refresh). */
export function setDefaultUnauthorizedHandler(handler: (() => Promise<boolean>) | undefined): void {
  defaultUnauthorizedHandler = handler;
}

/** Default same-origin gateway used by the app's services. */
export const apiGateway = createApiGateway({
  getToken: () => defaultTokenGetter?.(),
  onUnauthorized: () => (defaultUnauthorizedHandler ? defaultUnauthorizedHandler() : Promise.resolve(false)),
});

/** The field errors of a VALIDATION_ERROR (`error.details`), flattened to one message list per field. */
export function fieldErrorsOf(error: unknown): Record<string, string[]> {
  if (!isApiError(error) || typeof error.details !== "object" || error.details === null) return {};
  const out: Record<string, string[]> = {};
  const collect = (value: unknown): string[] => {
    if (typeof value === "string") return [value];
    if (Array.isArray(value)) return value.flatMap(collect);
    if (typeof value === "object" && value !== null) return Object.values(value).flatMap(collect);
    return [];
  };
  if (Array.isArray(error.details)) {
    const messages = collect(error.details);
    if (messages.length) out.non_field_errors = messages;
    return out;
  }
  for (const [field, value] of Object.entries(error.details as Record<string, unknown>)) {
    const messages = collect(value);
    if (messages.length) out[field] = messages;
  }
  return out;
}

/** A one-line description of any error, for alerts. */
export function errorMessage(error: unknown): string {
  if (isApiError(error)) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
