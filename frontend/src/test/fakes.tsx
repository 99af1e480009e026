/** Test doubles at the app's boundaries: a scripted WebSocket, JSON responses, and the providers around a page. */

import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { vi } from "vitest";
import { AuthProvider } from "../contexts/AuthContext";
import { NotificationProvider } from "../contexts/NotificationContext";
import { SESSION_STORAGE_KEY, Session } from "../services/session";
import type { User, UserService } from "../services/userService";

export class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  readyState = 0;
  url: string;
  protocols: string[];
  sent: string[] = [];
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;

  constructor(url: string, protocols?: string | string[]) {
    this.url = url;
    this.protocols = typeof protocols === "string" ? [protocols] : (protocols ?? []);
    FakeWebSocket.instances.push(this);
  }

  static latest(): FakeWebSocket {
    const socket = FakeWebSocket.instances.at(-1);
    if (!socket) throw new Error("no socket was opened");
    return socket;
  }

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }

  receive(message: unknown): void {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(message) }));
  }

  serverClose(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "", wasClean: true } as CloseEvent);
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(): void {
    this.readyState = 3;
  }
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export const TEST_USER: User = {
  id: 7,
  username: "ada",
  email: "ada@example.org",
  first_name: "Ada",
  last_name: "L",
  is_staff: false,
  role: "researcher",
  profile: {
    organization: "",
    institution: "",
    country: "ZA",
    timezone: "UTC",
    email_notifications: true,
    quotas: { monthly_jobs: 100, storage_bytes: 10 * 1024 ** 3 },
  },
};

/** A signed-in session (opaque tokens: no expiry to read, so no refresh ahead of time). */
export function signIn(): Session {
  localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify({ access: "access-1", refresh: "refresh-1" }));
  return new Session();
}

export function fakeUsers(overrides: Partial<UserService> = {}): UserService {
  return {
    login: vi.fn(async () => TEST_USER),
    logout: vi.fn(async () => {}),
    currentUser: vi.fn(async () => TEST_USER),
    profile: vi.fn(async () => TEST_USER.profile),
    updateProfile: vi.fn(async () => TEST_USER.profile),
    changePassword: vi.fn(async () => undefined),
    credentials: vi.fn(async () => ({ count: 0, next: null, previous: null, results: [] })),
    saveCredential: vi.fn(),
    deleteCredential: vi.fn(),
    verifyCredential: vi.fn(),
    ...overrides,
  } as UserService;
}

export function fakeNotifications(unread = 0) {
  return {
    unreadCount: vi.fn(async () => unread),
    list: vi.fn(async () => ({ count: 0, next: null, previous: null, results: [] })),
    markRead: vi.fn(),
    markAllRead: vi.fn(async () => ({ marked: 0 })),
  };
}

/** Renders `element` at `route` (matched by `path`) inside the auth and notification providers. */
export function renderPage(
  element: ReactElement,
  {
    route = "/",
    path = "/",
    users = fakeUsers(),
    notifications = fakeNotifications(),
    store = signIn(),
    extraRoutes = [],
  }: {
    route?: string;
    path?: string;
    users?: UserService;
    notifications?: ReturnType<typeof fakeNotifications>;
    store?: Session;
    extraRoutes?: { path: string; element: ReactElement }[];
  } = {},
) {
  return render(
    <MemoryRouter initialEntries={[route]}>
      <AuthProvider users={users} store={store}>
        <NotificationProvider
          service={notifications as never}
          store={store}
          socketOptions={{ WebSocketImpl: FakeWebSocket as unknown as typeof WebSocket, url: (since) => `ws://test/ws/notifications/${since === null ? "" : `?since=${since}`}` }}
        >
          <Routes>
            <Route path={path} element={element} />
            {extraRoutes.map((r) => (
              <Route key={r.path} path={r.path} element={r.element} />
            ))}
          </Routes>
        </NotificationProvider>
      </AuthProvider>
    </MemoryRouter>,
  );
}
