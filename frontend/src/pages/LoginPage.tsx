import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router-dom";
import ErrorAlert from "../components/ErrorAlert";
import FieldError from "../components/FieldError";
import { PRODUCT_NAME } from "../components/Layout";
import { useAuth } from "../contexts/AuthContext";
import { fieldErrorsOf, isApiError } from "../services/apiGateway";

export default function LoginPage() {
  const { status, login } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/";
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  if (status === "signedIn") return <Navigate to={from} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username.trim(), password);
      navigate(from, { replace: true });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  const fields = fieldErrorsOf(error);
  const message =
    isApiError(error) && error.status === 401
      ? new Error("The username or password is not right.")
      : isApiError(error) && error.status === 429
        ? new Error("Too many failed attempts; wait a while before trying again.")
        : Object.keys(fields).length
          ? null
          : error;

  return (
    <div className="login-page">
      <form className="card login-card" onSubmit={submit} noValidate aria-labelledby="login-heading">
        <p className="brand">{PRODUCT_NAME}</p>
        <h1 id="login-heading">Sign in</h1>
        <ErrorAlert error={message} />
        <label htmlFor="login-username">Username</label>
        <input
          id="login-username"
          name="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          aria-describedby="login-username-error"
          required
        />
        <FieldError id="login-username-error" messages={fields.username} />
        <label htmlFor="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-describedby="login-password-error"
          required
        />
        <FieldError id="login-password-error" messages={fields.password} />
        <button type="submit" className="primary" disabled={busy || !username || !password}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="muted">
          <Link to="/status">System status</Link>
        </p>
      </form>
    </div>
  );
}
