import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ApiError,
  INTERNAL_ERROR,
  NETWORK_ERROR,
  apiGateway,
  createApiGateway,
  fieldErrorsOf,
  setDefaultTokenGetter,
} from "./apiGateway";

function jsonResponse(body: unknown, init: ResponseInit = {}): Response {
  return new Response(JSON.stringify(body), {
    ...init,
    headers: { "Content-Type": "application/json", ...init.headers },
  });
}

function stubFetch(response: Response | (() => Promise<Response>)) {
  const fetchMock = vi.fn<typeof fetch>(() =>
    typeof response === "function" ? response() : Promise.resolve(response),
  );
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

function sentHeaders(fetchMock: ReturnType<typeof stubFetch>, call = 0): Headers {
  const init = fetchMock.mock.calls[call]?.[1];
  return new Headers(init?.headers);
}

async function captureError(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error("expected the request to reject");
}

afterEach(() => {
  setDefaultTokenGetter(undefined);
});

describe("apiGateway requests", () => {
  it("uses the path as-is with the empty base path and parses JSON", async () => {
    const fetchMock = stubFetch(jsonResponse({ hello: "world" }));
    const gateway = createApiGateway();

    await expect(gateway.get<{ hello: string }>("/api/v1/jobs", { query: { page: 2, q: undefined } }))
      .resolves.toEqual({ hello: "world" });

    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(fetchMock.mock.calls[0]?.[0]).toBe("/api/v1/jobs?page=2");
    expect(fetchMock.mock.calls[0]?.[1]?.method).toBe("GET");
  });

  it("sends bodies as JSON", async () => {
    const fetchMock = stubFetch(jsonResponse({ id: 7 }, { status: 201 }));
    const gateway = createApiGateway();

    await gateway.post("/api/v1/jobs", { panel: "1000G", chromosomes: [20, 21] });

    const init = fetchMock.mock.calls[0]?.[1];
    expect(init?.method).toBe("POST");
    expect(init?.body).toBe('{"panel":"1000G","chromosomes":[20,21]}');
    expect(sentHeaders(fetchMock).get("Content-Type")).toBe("application/json");
  });

  it("attaches a Bearer token when the getter returns one", async () => {
    const fetchMock = stubFetch(jsonResponse({}));
    const gateway = createApiGateway({ getToken: async () => "tok-123" });

    await gateway.get("/api/v1/me");

    expect(sentHeaders(fetchMock).get("Authorization")).toBe("Bearer tok-123");
  });

  it("omits Authorization when the getter returns nothing", async () => {
    const fetchMock = stubFetch(jsonResponse({}));
    const gateway = createApiGateway({ getToken: () => null });

    await gateway.get("/api/v1/me");

    expect(sentHeaders(fetchMock).has("Authorization")).toBe(false);
  });

  it("lets the default gateway pick up a token getter set later", async () => {
    const fetchMock = stubFetch(() => Promise.resolve(jsonResponse({})));

    await apiGateway.get("/api/v1/me");
    setDefaultTokenGetter(() => "late-token");
    await apiGateway.get("/api/v1/me");

    expect(sentHeaders(fetchMock, 0).has("Authorization")).toBe(false);
    expect(sentHeaders(fetchMock, 1).get("Authorization")).toBe("Bearer late-token");
  });

  it("returns undefined for 204 No Content", async () => {
    stubFetch(new Response(null, { status: 204 }));
    await expect(createApiGateway().delete("/api/v1/jobs/1")).resolves.toBeUndefined();
  });
});

describe("apiGateway error mapping", () => {
  it("maps the error envelope onto ApiError", async () => {
    stubFetch(
      jsonResponse(
        {
          error: {
            code: "VALIDATION_ERROR",
            message: "Chromosome must be 1-22 or X",
            details: { field: "chromosome" },
          },
          request_id: "req-abc-123",
        },
        { status: 422, statusText: "Unprocessable Entity" },
      ),
    );

    const error = await captureError(createApiGateway().post("/api/v1/jobs", { chromosome: 99 }));

    expect(error.status).toBe(422);
    expect(error.code).toBe("VALIDATION_ERROR");
    expect(error.message).toBe("Chromosome must be 1-22 or X");
    expect(error.details).toEqual({ field: "chromosome" });
    expect(error.requestId).toBe("req-abc-123");
    expect(error.name).toBe("ApiError");
  });

  it("falls back to the X-Request-ID header when the envelope has no request_id", async () => {
    stubFetch(
      jsonResponse(
        { error: { code: "NOT_FOUND", message: "No such job" } },
        { status: 404, headers: { "X-Request-ID": "hdr-9" } },
      ),
    );

    const error = await captureError(createApiGateway().get("/api/v1/jobs/404"));

    expect(error.code).toBe("NOT_FOUND");
    expect(error.requestId).toBe("hdr-9");
    expect(error.details).toBeUndefined();
  });

  it("turns a non-JSON error body into INTERNAL_ERROR with the status text", async () => {
    stubFetch(
      new Response("<html>Bad Gateway</html>", {
        status: 502,
        statusText: "Bad Gateway",
        headers: { "Content-Type": "text/html" },
      }),
    );

    const error = await captureError(createApiGateway().get("/api/v1/jobs"));

    expect(error.status).toBe(502);
    expect(error.code).toBe(INTERNAL_ERROR);
    expect(error.message).toBe("Bad Gateway");
    expect(error.requestId).toBeNull();
  });

  it("keeps a JSON body that is not an envelope for callers to inspect", async () => {
    const report = { status: "unavailable", checks: { database: { ok: false } } };
    stubFetch(jsonResponse(report, { status: 503, statusText: "Service Unavailable" }));

    const error = await captureError(createApiGateway().get("/readyz"));

    expect(error.code).toBe(INTERNAL_ERROR);
    expect(error.message).toBe("Service Unavailable");
    expect(error.body).toEqual(report);
  });

  it("wraps network failures as NETWORK_ERROR with status 0", async () => {
    stubFetch(() => Promise.reject(new TypeError("Failed to fetch")));

    const error = await captureError(createApiGateway().get("/api/v1/jobs"));

    expect(error.status).toBe(0);
    expect(error.code).toBe(NETWORK_ERROR);
    expect(error.message).toBe("Failed to fetch");
  });
});

describe("apiGateway 401 handling and helpers", () => {
  it("refreshes once on a 401 and repeats the request with the new token", async () => {
    let token = "expired";
    const fetchMock = stubFetch(() =>
      Promise.resolve(
        new Headers(fetchMock.mock.calls.at(-1)?.[1]?.headers).get("Authorization") === "Bearer fresh"
          ? jsonResponse({ ok: true })
          : jsonResponse({ error: { code: "AUTHENTICATION_ERROR", message: "Token expired" } }, { status: 401 }),
      ),
    );
    const onUnauthorized = vi.fn(async () => {
      token = "fresh";
      return true;
    });
    const gateway = createApiGateway({ getToken: () => token, onUnauthorized });

    await expect(gateway.get("/api/jobs/")).resolves.toEqual({ ok: true });

    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it("gives up with the 401 when the refresh fails, and never refreshes anonymous calls", async () => {
    stubFetch(() =>
      Promise.resolve(jsonResponse({ error: { code: "AUTHENTICATION_ERROR", message: "No" } }, { status: 401 })),
    );
    const onUnauthorized = vi.fn(async () => false);
    const gateway = createApiGateway({ getToken: () => "t", onUnauthorized });

    expect((await captureError(gateway.get("/api/jobs/"))).status).toBe(401);
    expect((await captureError(gateway.post("/api/auth/login/", {}, { anonymous: true }))).status).toBe(401);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it("flattens error.details into messages per field", () => {
    const error = new ApiError({
      status: 400,
      code: "VALIDATION_ERROR",
      message: "Invalid input.",
      details: { name: ["Required."], targets: [{ service: ["Unknown."] }, {}], r2_filter: "Too big." },
    });
    expect(fieldErrorsOf(error)).toEqual({ name: ["Required."], targets: ["Unknown."], r2_filter: ["Too big."] });
    expect(fieldErrorsOf(new Error("x"))).toEqual({});
  });
});
