/** The users context: sign-in, the current user and profile, password, and the service credential vault. */

import { apiGateway, type ApiGateway } from "./apiGateway";
import { session, type Session, type Tokens } from "./session";
import type { Page } from "./types";

export interface Quotas {
  monthly_jobs: number;
  storage_bytes: number;
}

export interface Profile {
  organization: string;
  institution: string;
  country: string;
  timezone: string;
  email_notifications: boolean;
  quotas: Quotas;
}

export interface User {
  id: number;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  is_staff: boolean;
  role: string;
  profile: Profile;
}

export interface LoginResult extends Tokens {
  user: User;
}

export type ProfileChanges = Partial<Omit<Profile, "quotas">>;

/** A stored per-service API token; the token itself is write-only and never comes back. */
export interface Credential {
  id: number;
  service_id: number;
  label: string;
  has_token: boolean;
  token_last4: string | null;
  is_verified: boolean;
  last_verified_at: string | null;
  last_used_at: string | null;
  expires_at: string | null;
  is_expired: boolean;
  created_at: string;
  updated_at: string;
}

export interface CredentialInput {
  service_id: number;
  token: string;
  label?: string;
  expires_at?: string | null;
}

export function createUserService(gateway: ApiGateway = apiGateway, store: Session = session) {
  return {
    /** POST /api/auth/login/: stores the token pair and returns the user. */
    async login(username: string, password: string): Promise<User> {
      const result = await gateway.post<LoginResult>(
        "/api/auth/login/",
        { username, password },
        { anonymous: true },
      );
      store.set({ access: result.access, refresh: result.refresh });
      return result.user;
    },

    /** POST /api/auth/logout/ revokes the refresh token; the local session ends whatever the answer. */
    async logout(): Promise<void> {
      const tokens = store.tokens();
      try {
        if (tokens) await gateway.post("/api/auth/logout/", { refresh: tokens.refresh });
      } catch {
        // already expired or revoked: nothing more to undo on the server
      } finally {
        store.clear();
      }
    },

    currentUser: (signal?: AbortSignal) => gateway.get<User>("/api/auth/user/", { signal }),
    profile: (signal?: AbortSignal) => gateway.get<Profile>("/api/profiles/me/", { signal }),
    updateProfile: (changes: ProfileChanges) => gateway.patch<Profile>("/api/profiles/me/", changes),
    changePassword: (currentPassword: string, newPassword: string) =>
      gateway.post<unknown>("/api/auth/change-password/", {
        current_password: currentPassword,
        new_password: newPassword,
      }),

    credentials: (signal?: AbortSignal) =>
      gateway.get<Page<Credential>>("/api/credentials/", { signal, query: { page_size: 100 } }),
    /** Creates the credential of a service, or replaces its token when one exists (200 then, 201 on create). */
    saveCredential: (input: CredentialInput) => gateway.post<Credential>("/api/credentials/", input),
    deleteCredential: (id: number) => gateway.delete<void>(`/api/credentials/${id}/`),
    verifyCredential: (id: number) => gateway.post<Credential>(`/api/credentials/${id}/verify/`),
  };
}

export const userService = createUserService();
export type UserService = ReturnType<typeof createUserService>;
