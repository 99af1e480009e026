/**
 * The signed-in session: the access/refresh JWT pair, kept in localStorage so a page reload (and a resumed
 * upload after it) stays signed in, and shared by every tab (each read goes to storage, so a refresh made by
 * one tab is seen by the others).
 *
 * - `accessToken()` refreshes ahead of time when the access token expires within a minute.
 * - `refresh()` is single-flight: concurrent callers share one POST /api/auth/refresh/ (refresh tokens rotate
 *   and the old one is blacklisted, so two refreshes with the same token would sign the user out).
 * - When the refresh token is refused, the session ends and listeners hear `null`.
 */

import {
  apiGateway,
  isApiError,
  setDefaultTokenGetter,
  setDefaultUnauthorizedHandler,
  type ApiGateway,
} from "./apiGateway";

export interface Tokens {
  access: string;
  refresh: string;
}

export const SESSION_STORAGE_KEY = "fip.session";
const EARLY_REFRESH_SECONDS = 60;

type Listener = (tokens: Tokens | null) => void;

function readStored(): Tokens | null {
  try {
    const raw = globalThis.localStorage?.getItem(SESSION_STORAGE_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<Tokens>;
    return typeof parsed.access === "string" && typeof parsed.refresh === "string"
      ? { access: parsed.access, refresh: parsed.refresh }
      : null;
  } catch {
    return null;
  }
}

/** The `exp` claim (epoch seconds) of a JWT, or null when it cannot be read. Nothing is verified here. */
export function jwtExpiry(token: string): number | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const padded = payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "=");
    const claims = JSON.parse(atob(padded)) as { exp?: unknown };
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}

export class Session {
  private listeners = new Set<Listener>();
  private pending: Promise<boolean> | null = null;
  private readonly gateway: ApiGateway;
  private readonly now: () => number;

  constructor(options: { gateway?: ApiGateway; now?: () => number } = {}) {
    this.gateway = options.gateway ?? apiGateway;
    this.now = options.now ?? (() => Date.now() / 1000);
  }

  tokens(): Tokens | null {
    return readStored();
  }

  isSignedIn(): boolean {
    return readStored() !== null;
  }

  set(tokens: Tokens): void {
    globalThis.localStorage?.setItem(SESSION_STORAGE_KEY, JSON.stringify(tokens));
    this.emit(tokens);
  }

  clear(): void {
    globalThis.localStorage?.removeItem(SESSION_STORAGE_KEY);
    this.emit(null);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Another tab signed in or out: tell this tab's listeners. */
  storageChanged(): void {
    this.emit(readStored());
  }

  /** A usable access token (refreshed first when it is about to expire), or null when signed out. */
  async accessToken(): Promise<string | null> {
    if (this.pending) await this.pending;
    const tokens = readStored();
    if (!tokens) return null;
    const expiry = jwtExpiry(tokens.access);
    if (expiry !== null && expiry - this.now() < EARLY_REFRESH_SECONDS) {
      await this.refresh();
      return readStored()?.access ?? null;
    }
    return tokens.access;
  }

  /** Exchange the refresh token for a new pair; true when the session goes on. */
  refresh(): Promise<boolean> {
    if (!this.pending) {
      this.pending = this.doRefresh().finally(() => {
        this.pending = null;
      });
    }
    return this.pending;
  }

  private async doRefresh(): Promise<boolean> {
    const before = readStored();
    if (!before) return false;
    try {
      const tokens = await this.gateway.post<Tokens>(
        "/api/auth/refresh/",
        { refresh: before.refresh },
        { anonymous: true },
      );
      this.set({ access: tokens.access, refresh: tokens.refresh });
      return true;
    } catch (error) {
      const now = readStored();
      if (now && now.refresh !== before.refresh) return true; // another tab rotated it meanwhile
      if (isApiError(error) && (error.status === 400 || error.status === 401)) {
        this.clear();
      }
      return false;
    }
  }

  private emit(tokens: Tokens | null): void {
    for (const listener of this.listeners) listener(tokens);
  }
}

export const session = new Session();

setDefaultTokenGetter(() => session.accessToken());
setDefaultUnauthorizedHandler(() => session.refresh());

if (typeof window !== "undefined") {
  window.addEventListener("storage", (event) => {
    if (event.key === SESSION_STORAGE_KEY || event.key === null) session.storageChanged();
  });
}
