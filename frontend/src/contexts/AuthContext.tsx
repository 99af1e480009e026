import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { isApiError } from "../services/apiGateway";
import { session as defaultSession, type Session } from "../services/session";
import { userService as defaultUserService, type User, type UserService } from "../services/userService";

export type AuthStatus = "loading" | "signedIn" | "signedOut";

export interface AuthValue {
  status: AuthStatus;
  user: User | null;
  login: (username: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  /** Reload the current user (after a profile change). */
  reload: () => Promise<void>;
}

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({
  children,
  users = defaultUserService,
  store = defaultSession,
}: {
  children: ReactNode;
  users?: UserService;
  store?: Session;
}) {
  const [user, setUser] = useState<User | null>(null);
  const [status, setStatus] = useState<AuthStatus>(store.isSignedIn() ? "loading" : "signedOut");

  const reload = useCallback(async () => {
    if (!store.isSignedIn()) {
      setUser(null);
      setStatus("signedOut");
      return;
    }
    try {
      setUser(await users.currentUser());
      setStatus("signedIn");
    } catch (error) {
      if (isApiError(error) && error.status === 401) {
        store.clear();
      } else {
        // the API is unreachable: keep the session, show the app, let pages report their own errors
        setStatus(store.isSignedIn() ? "signedIn" : "signedOut");
      }
    }
  }, [store, users]);

  useEffect(() => {
    void reload();
    return store.subscribe((tokens) => {
      if (tokens === null) {
        setUser(null);
        setStatus("signedOut");
      }
    });
  }, [reload, store]);

  const login = useCallback(
    async (username: string, password: string) => {
      const signedIn = await users.login(username, password);
      setUser(signedIn);
      setStatus("signedIn");
    },
    [users],
  );

  const logout = useCallback(async () => {
    await users.logout();
    setUser(null);
    setStatus("signedOut");
  }, [users]);

  const value = useMemo(() => ({ status, user, login, logout, reload }), [status, user, login, logout, reload]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth() needs an <AuthProvider>");
  return value;
}
