import { useEffect, useState, type FormEvent } from "react";
import ErrorAlert from "../components/ErrorAlert";
import FieldError from "../components/FieldError";
import TextField from "../components/TextField";
import { useAuth } from "../contexts/AuthContext";
import { useApi } from "../hooks/useApi";
import { fieldErrorsOf } from "../services/apiGateway";
import { registryService } from "../services/registryService";
import { userService as defaultUserService, type Credential, type UserService } from "../services/userService";
import { formatDate } from "../utils/format";

type Errors = Record<string, string[]>;

function ProfileSection({ users }: { users: UserService }) {
  const { user, reload } = useAuth();
  const profile = useApi((signal) => users.profile(signal), []);
  const [form, setForm] = useState({ organization: "", institution: "", country: "", timezone: "", email_notifications: true });
  const [errors, setErrors] = useState<Errors>({});
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (profile.data) {
      const { organization, institution, country, timezone, email_notifications } = profile.data;
      setForm({ organization, institution, country, timezone, email_notifications });
    }
  }, [profile.data]);

  async function save(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    setError(null);
    setSaved(false);
    try {
      profile.setData(await users.updateProfile({ ...form, country: form.country.trim().toUpperCase() }));
      setSaved(true);
      void reload();
    } catch (failure) {
      setErrors(fieldErrorsOf(failure));
      setError(failure);
    }
  }

  const text = (field: "organization" | "institution" | "country" | "timezone", label: string, extra = {}) => (
    <TextField
      id={`profile-${field}`}
      label={label}
      value={form[field]}
      onChange={(value) => setForm((f) => ({ ...f, [field]: value }))}
      errors={errors[field]}
      {...extra}
    />
  );

  return (
    <section aria-labelledby="profile-heading" className="card">
      <h2 id="profile-heading">Profile</h2>
      {user && (
        <p>
          Signed in as <strong>{user.username}</strong>
          {user.email && ` (${user.email})`}, role {user.role}.
        </p>
      )}
      <ErrorAlert error={profile.error} title="Could not load your profile" />
      <form onSubmit={save} className="form-grid" noValidate>
        {text("organization", "Organization")}
        {text("institution", "Institution")}
        {text("country", "Country (two-letter code)", { maxLength: 2 })}
        {text("timezone", "Time zone (e.g. Africa/Johannesburg)")}
        <div className="field checkbox">
          <input
            id="profile-email"
            type="checkbox"
            checked={form.email_notifications}
            onChange={(e) => setForm((f) => ({ ...f, email_notifications: e.target.checked }))}
          />
          <label htmlFor="profile-email">Send me e-mail notifications</label>
        </div>
        {error !== null && Object.keys(errors).length === 0 && <ErrorAlert error={error} />}
        <div>
          <button type="submit" className="primary">
            Save profile
          </button>
          {saved && <span role="status"> Saved.</span>}
        </div>
      </form>
      {profile.data && (
        <p className="muted">
          Quotas: {profile.data.quotas.monthly_jobs} jobs a month,{" "}
          {(profile.data.quotas.storage_bytes / 1024 ** 3).toFixed(0)} GiB of storage.
        </p>
      )}
    </section>
  );
}

function PasswordSection({ users }: { users: UserService }) {
  const { user } = useAuth();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);

  async function change(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    setError(null);
    setDone(false);
    try {
      await users.changePassword(current, next);
      setCurrent("");
      setNext("");
      setDone(true);
    } catch (failure) {
      setErrors(fieldErrorsOf(failure));
      setError(failure);
    }
  }

  return (
    <section aria-labelledby="password-heading" className="card">
      <h2 id="password-heading">Password</h2>
      <form onSubmit={change} className="form-grid" noValidate>
        {/* lets password managers tell which account the new password belongs to */}
        <input type="text" name="username" autoComplete="username" value={user?.username ?? ""} readOnly hidden />
        <TextField
          id="pw-current"
          label="Current password"
          type="password"
          autoComplete="current-password"
          value={current}
          onChange={setCurrent}
          errors={errors.current_password}
        />
        <TextField
          id="pw-new"
          label="New password"
          type="password"
          autoComplete="new-password"
          value={next}
          onChange={setNext}
          errors={errors.new_password}
        />
        {error !== null && !errors.current_password && !errors.new_password && <ErrorAlert error={error} />}
        <div>
          <button type="submit" disabled={!current || !next}>
            Change password
          </button>
          {done && <span role="status"> Password changed.</span>}
        </div>
      </form>
    </section>
  );
}

function CredentialsSection({ users }: { users: UserService }) {
  const credentials = useApi((signal) => users.credentials(signal), []);
  const services = useApi((signal) => registryService.services({}, signal), []);
  const [serviceId, setServiceId] = useState("");
  const [token, setToken] = useState("");
  const [label, setLabel] = useState("");
  const [expiresAt, setExpiresAt] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState("");

  const nameOf = (id: number) => services.data?.results.find((s) => s.id === id)?.name ?? `Service ${id}`;
  const needsToken = (services.data?.results ?? []).filter((s) => s.requires_auth);
  const offered = needsToken.length ? needsToken : (services.data?.results ?? []);

  async function save(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    setError(null);
    setMessage("");
    const problems: Errors = {};
    if (!serviceId) problems.service_id = ["Choose the service this token is for."];
    if (!token.trim()) problems.token = ["Paste the API token the service gave you."];
    if (Object.keys(problems).length) {
      setErrors(problems);
      return;
    }
    try {
      const saved = await users.saveCredential({
        service_id: Number(serviceId),
        token: token.trim(),
        label,
        expires_at: expiresAt ? new Date(expiresAt).toISOString() : null,
      });
      setToken("");
      setMessage(`Token saved for ${nameOf(saved.service_id)}.`);
      credentials.reload(true);
    } catch (failure) {
      setErrors(fieldErrorsOf(failure));
      setError(failure);
    }
  }

  async function act(credential: Credential, action: "verify" | "delete") {
    setError(null);
    setMessage("");
    try {
      if (action === "delete") {
        if (!window.confirm(`Delete the token for ${nameOf(credential.service_id)}?`)) return;
        await users.deleteCredential(credential.id);
        setMessage("Token deleted.");
      } else {
        const checked = await users.verifyCredential(credential.id);
        setMessage(checked.is_verified ? "The service accepted the token." : "The service did not accept the token.");
      }
      credentials.reload(true);
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section aria-labelledby="credentials-heading" className="card" id="credentials">
      <h2 id="credentials-heading">Service credentials</h2>
      <p>
        Some services need your own API token. It is stored encrypted and never shown again; saving a new token for a
        service replaces the old one (and lets jobs paused for a token carry on).
      </p>
      <ErrorAlert error={credentials.error} title="Could not load your credentials" />
      {message && <p role="status">{message}</p>}
      {credentials.data && credentials.data.results.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Label</th>
              <th scope="col">Token</th>
              <th scope="col">State</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {credentials.data.results.map((c) => (
              <tr key={c.id}>
                <td>{nameOf(c.service_id)}</td>
                <td>{c.label || "—"}</td>
                <td>{c.has_token ? (c.token_last4 ? `•••• ${c.token_last4}` : "stored") : "none"}</td>
                <td>
                  {c.is_expired ? "Expired" : c.is_verified ? "Verified" : "Not verified"}
                  {c.last_verified_at && <div className="muted">checked {formatDate(c.last_verified_at)}</div>}
                  {c.expires_at && <div className="muted">expires {formatDate(c.expires_at)}</div>}
                </td>
                <td className="actions">
                  <button type="button" onClick={() => act(c, "verify")}>
                    Verify
                  </button>
                  <button type="button" onClick={() => setServiceId(String(c.service_id))}>
                    Replace
                  </button>
                  <button type="button" onClick={() => act(c, "delete")}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {credentials.data && credentials.data.results.length === 0 && <p>No tokens stored.</p>}

      <h3>Add or replace a token</h3>
      <form onSubmit={save} className="form-grid" noValidate>
        <div className="field">
          <label htmlFor="cred-service">Service</label>
          <select
            id="cred-service"
            value={serviceId}
            aria-describedby="cred-service-error"
            onChange={(e) => setServiceId(e.target.value)}
          >
            <option value="">Choose a service</option>
            {offered.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
          <FieldError id="cred-service-error" messages={errors.service_id} />
        </div>
        <TextField
          id="cred-token"
          label="API token"
          type="password"
          autoComplete="off"
          value={token}
          onChange={setToken}
          errors={errors.token}
        />
        <TextField id="cred-label" label="Label (optional)" value={label} onChange={setLabel} errors={errors.label} />
        <TextField
          id="cred-expires"
          label="Expires (optional)"
          type="datetime-local"
          value={expiresAt}
          onChange={setExpiresAt}
          errors={errors.expires_at}
        />
        {error !== null && Object.keys(errors).length === 0 && <ErrorAlert error={error} />}
        <div>
          <button type="submit" className="primary">
            Save token
          </button>
        </div>
      </form>
    </section>
  );
}

export default function SettingsPage({ users = defaultUserService }: { users?: UserService }) {
  useEffect(() => {
    if (window.location.hash === "#credentials") {
      document.getElementById("credentials")?.scrollIntoView?.();
    }
  }, []);
  return (
    <div>
      <h1>Settings</h1>
      <ProfileSection users={users} />
      <PasswordSection users={users} />
      <CredentialsSection users={users} />
    </div>
  );
}
