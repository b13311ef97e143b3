// The signed-in user: loaded from /api/v1/me, updated on sign-in/out, cleared on any 401.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api } from '../api/endpoints';
import { ApiError, setUnauthorizedHandler } from '../api/client';
import type { User } from '../api/types';

export interface AuthState {
  /** undefined while loading; null when signed out. */
  user: User | null | undefined;
  error: unknown;
  setUser: (user: User | null) => void;
  refresh: () => Promise<void>;
  signOut: () => Promise<void>;
}

export const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);

  const refresh = useCallback(async () => {
    setError(undefined);
    try {
      setUser(await api.me());
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setUser(null);
      else {
        setError(e);
        setUser(undefined);
      }
    }
  }, []);

  useEffect(() => {
    void refresh();
    setUnauthorizedHandler(() => setUser(null));
    return () => setUnauthorizedHandler(null);
  }, [refresh]);

  const signOut = useCallback(async () => {
    try {
      await api.logout();
    } catch (e) {
      // A session that has already ended is as signed out as can be.
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    } finally {
      setUser(null);
    }
  }, []);

  const value = useMemo(() => ({ user, error, setUser, refresh, signOut }), [user, error, refresh, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth must be used inside <AuthProvider>');
  return ctx;
}

/** The signed-in user; only for pages behind <RequireAuth>. */
export function useUser(): User {
  const { user } = useAuth();
  if (!user) throw new Error('useUser needs a signed-in user');
  return user;
}
