import { useCallback, useEffect, useRef, useState } from "react";
import { isApiError } from "../services/apiGateway";
import { fetchReadiness, type ReadinessReport } from "../services/readiness";

type PanelState =
  | { kind: "loading" }
  | { kind: "error"; message: string; requestId: string | null }
  | { kind: "loaded"; report: ReadinessReport };

function describeError(error: unknown): { message: string; requestId: string | null } {
  if (isApiError(error)) {
    return { message: `${error.message} (${error.code}, HTTP ${error.status})`, requestId: error.requestId };
  }
  return { message: error instanceof Error ? error.message : String(error), requestId: null };
}

export default function ReadinessPanel() {
  const [state, setState] = useState<PanelState>({ kind: "loading" });
  const controllerRef = useRef<AbortController | null>(null);

  const load = useCallback(() => {
    controllerRef.current?.abort();
    const controller = new AbortController();
    controllerRef.current = controller;
    setState({ kind: "loading" });
    fetchReadiness({ signal: controller.signal }).then(
      (report) => {
        if (!controller.signal.aborted) setState({ kind: "loaded", report });
      },
      (error: unknown) => {
        if (!controller.signal.aborted) setState({ kind: "error", ...describeError(error) });
      },
    );
  }, []);

  useEffect(() => {
    load();
    return () => controllerRef.current?.abort();
  }, [load]);

  return (
    <section aria-labelledby="readiness-heading" aria-busy={state.kind === "loading"}>
      <h2 id="readiness-heading">Service readiness</h2>

      {state.kind === "loading" && <p role="status">Checking readiness…</p>}

      {state.kind === "error" && (
        <div role="alert">
          <p>Could not load readiness: {state.message}</p>
          {state.requestId && <p>Request ID: {state.requestId}</p>}
        </div>
      )}

      {state.kind === "loaded" && (
        <>
          <p role="status">
            Overall status: <strong>{state.report.status === "ok" ? "ready" : "unavailable"}</strong>
          </p>
          {Object.keys(state.report.checks).length === 0 ? (
            <p>No checks reported.</p>
          ) : (
            <ul aria-label="Readiness checks">
              {Object.entries(state.report.checks).map(([name, check]) => (
                <li key={name} data-ok={check.ok}>
                  <span>{name}</span>: <strong>{check.ok ? "ok" : "failing"}</strong>
                  {check.detail ? <span> — {check.detail}</span> : null}
                </li>
              ))}
            </ul>
          )}
        </>
      )}

      <button type="button" onClick={load} disabled={state.kind === "loading"}>
        Refresh
      </button>
    </section>
  );
}
