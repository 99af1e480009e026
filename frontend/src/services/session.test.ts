import { describe, expect, it, vi } from "vitest";
import { jsonResponse } from "../test/fakes";
import { createApiGateway } from "./apiGateway";
import { SESSION_STORAGE_KEY, Session, jwtExpiry } from "./session";

function jwt(claims: Record<string, unknown>): string {
  const encode = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${encode({ alg: "RS256" })}.${encode(claims)}.signature`;
}

function stored() {
  return JSON.parse(localStorage.getItem(SESSION_STORAGE_KEY) ?? "null") as { access: string; refresh: string } | null;
}

describe("session", () => {
  it("reads the exp claim of a JWT and nothing from garbage", () => {
    expect(jwtExpiry(jwt({ exp: 1234, user_id: 1 }))).toBe(1234);
    expect(jwtExpiry("not-a-token")).toBeNull();
  });

  it("refreshes ahead of time when the access token is about to expire", async () => {
    const fetchMock = vi.fn<typeof fetch>(async () => jsonResponse({ access: "new-access", refresh: "new-refresh" }));
    const session = new Session({ gateway: createApiGateway({ fetchImpl: fetchMock }), now: () => 1000 });
    session.set({ access: jwt({ exp: 1030 }), refresh: "old-refresh" });

    await expect(session.accessToken()).resolves.toBe("new-access");

    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(fetchMock.mock.calls[0]?.[0]).toBe("/api/auth/refresh/");
    expect(JSON.parse(String(fetchMock.mock.calls[0]?.[1]?.body))).toEqual({ refresh: "old-refresh" });
    expect(new Headers(fetchMock.mock.calls[0]?.[1]?.headers).has("Authorization")).toBe(false);
    expect(stored()).toEqual({ access: "new-access", refresh: "new-refresh" });
  });

  it("keeps a token that is still valid for a while", async () => {
    const fetchMock = vi.fn<typeof fetch>();
    const session = new Session({ gateway: createApiGateway({ fetchImpl: fetchMock }), now: () => 1000 });
    const access = jwt({ exp: 1900 });
    session.set({ access, refresh: "r" });

    await expect(session.accessToken()).resolves.toBe(access);
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("sends one refresh for concurrent callers (refresh tokens rotate)", async () => {
    let answer: (response: Response) => void = () => {};
    const fetchMock = vi.fn<typeof fetch>(() => new Promise<Response>((resolve) => (answer = resolve)));
    const session = new Session({ gateway: createApiGateway({ fetchImpl: fetchMock }) });
    session.set({ access: "a", refresh: "r" });

    const first = session.refresh();
    const second = session.refresh();
    answer(jsonResponse({ access: "a2", refresh: "r2" }));

    await expect(Promise.all([first, second])).resolves.toEqual([true, true]);
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it("ends the session and tells listeners when the refresh token is refused", async () => {
    const fetchMock = vi.fn<typeof fetch>(async () =>
      jsonResponse({ error: { code: "AUTHENTICATION_ERROR", message: "Token is blacklisted" } }, 401),
    );
    const session = new Session({ gateway: createApiGateway({ fetchImpl: fetchMock }) });
    session.set({ access: "a", refresh: "r" });
    const listener = vi.fn();
    session.subscribe(listener);

    await expect(session.refresh()).resolves.toBe(false);

    expect(stored()).toBeNull();
    expect(listener).toHaveBeenCalledWith(null);
  });

  it("keeps the session when another tab rotated the tokens meanwhile", async () => {
    const fetchMock = vi.fn<typeof fetch>(async () => {
      localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify({ access: "tab2", refresh: "tab2-refresh" }));
      return jsonResponse({ error: { code: "AUTHENTICATION_ERROR", message: "blacklisted" } }, 401);
    });
    const session = new Session({ gateway: createApiGateway({ fetchImpl: fetchMock }) });
    session.set({ access: "a", refresh: "r" });

    await expect(session.refresh()).resolves.toBe(true);
    expect(stored()?.access).toBe("tab2");
  });
});
