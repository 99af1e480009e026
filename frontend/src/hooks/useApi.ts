import { useCallback, useEffect, useRef, useState, type DependencyList } from "react";

export interface ApiState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Load again; `quiet` keeps the current data on screen (no loading state), for polling. */
  reload: (quiet?: boolean) => void;
  setData: (update: T | ((current: T | undefined) => T | undefined)) => void;
}

/**
 * Runs `load` when `deps` change (cancelling the previous run through its AbortSignal) and keeps its result.
 */
export function useApi<T>(load: (signal: AbortSignal) => Promise<T>, deps: DependencyList): ApiState<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const controller = useRef<AbortController | null>(null);
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });

  const run = useCallback((quiet: boolean) => {
    controller.current?.abort();
    const current = new AbortController();
    controller.current = current;
    if (!quiet) setLoading(true);
    loadRef.current(current.signal).then(
      (result) => {
        if (current.signal.aborted) return;
        setDataState(() => result);
        setError(null);
        setLoading(false);
      },
      (failure: unknown) => {
        if (current.signal.aborted) return;
        setError(failure);
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    run(false);
    return () => controller.current?.abort();
  }, deps);

  const reload = useCallback((quiet = false) => run(quiet), [run]);
  const setData = useCallback((update: T | ((current: T | undefined) => T | undefined)) => {
    setDataState((current) =>
      typeof update === "function" ? (update as (c: T | undefined) => T | undefined)(current) : update,
    );
  }, []);

  return { data, error, loading, reload, setData };
}

/** Calls `tick` every `ms` while `active`. */
export function useInterval(tick: () => void, ms: number, active: boolean): void {
  const latest = useRef(tick);
  useEffect(() => {
    latest.current = tick;
  });
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => latest.current(), ms);
    return () => clearInterval(timer);
  }, [ms, active]);
}
