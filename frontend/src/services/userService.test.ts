import { describe, expect, it, vi } from "vitest";
import { TEST_USER, jsonResponse } from "../test/fakes";
import { createApiGateway } from "./apiGateway";
import { Session } from "./session";
import { createUserService } from "./userService";

function setup(respond: (url: string, init?: RequestInit) => Response) {
  const fetchMock = vi.fn<typeof fetch>(async (url, init) => respond(String(url), init));
  const store = new Session({ gateway: createApiGateway({ fetchImpl: fetchMock }) });
  const gateway = createApiGateway({ fetchImpl: fetchMock, getToken: () => store.accessToken() });
  return { fetchMock, store, users: createUserService(gateway, store) };
}

describe("userService", () => {
  it("logs in anonymously and keeps the token pair", async () => {
    const { fetchMock, store, users } = setup(() =>
      jsonResponse({ access: "acc", refresh: "ref", user: TEST_USER }),
    );

    await expect(users.login("ada", "pw")).resolves.toEqual(TEST_USER);

    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/auth/login/");
    expect(JSON.parse(String(init?.body))).toEqual({ username: "ada", password: "pw" });
    expect(new Headers(init?.headers).has("Authorization")).toBe(false);
    expect(store.tokens()).toEqual({ access: "acc", refresh: "ref" });
  });

  it("revokes the refresh token on logout and signs out even when that fails", async () => {
    const { fetchMock, store, users } = setup(() => jsonResponse({ error: { code: "X", message: "down" } }, 503));
    store.set({ access: "acc", refresh: "ref" });

    await users.logout();

    expect(fetchMock.mock.calls[0]?.[0]).toBe("/api/auth/logout/");
    expect(JSON.parse(String(fetchMock.mock.calls[0]?.[1]?.body))).toEqual({ refresh: "ref" });
    expect(new Headers(fetchMock.mock.calls[0]?.[1]?.headers).get("Authorization")).toBe("Bearer acc");
    expect(store.tokens()).toBeNull();
  });

  it("posts a credential's write-only token and lists credentials", async () => {
    const { fetchMock, users } = setup((url) =>
      url.startsWith("/api/credentials/?")
        ? jsonResponse({ count: 0, next: null, previous: null, results: [] })
        : jsonResponse({ id: 1, service_id: 3, has_token: true }, 201),
    );

    await users.saveCredential({ service_id: 3, token: "secret", label: "lab" });
    await users.credentials();

    expect(fetchMock.mock.calls[0]?.[0]).toBe("/api/credentials/");
    expect(JSON.parse(String(fetchMock.mock.calls[0]?.[1]?.body))).toEqual({ service_id: 3, token: "secret", label: "lab" });
    expect(fetchMock.mock.calls[1]?.[0]).toBe("/api/credentials/?page_size=100");
  });
});
