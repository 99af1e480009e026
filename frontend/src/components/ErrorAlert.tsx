import { isApiError } from "../services/apiGateway";

/** An error as a readable alert: the API's message, and its request id for support. */
export default function ErrorAlert({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const message = isApiError(error) ? error.message : error instanceof Error ? error.message : String(error);
  const requestId = isApiError(error) ? error.requestId : null;
  return (
    <div role="alert" className="alert alert-error">
      {title && <strong>{title}: </strong>}
      {message}
      {requestId && <span className="muted"> (request {requestId})</span>}
    </div>
  );
}
