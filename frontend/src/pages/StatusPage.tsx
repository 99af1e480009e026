import { Link } from "react-router-dom";
import ReadinessPanel from "../components/ReadinessPanel";
import { PRODUCT_NAME } from "../components/Layout";

/** Public page: the platform's readiness probe. */
export default function StatusPage() {
  return (
    <div className="public-page">
      <header>
        <h1>{PRODUCT_NAME}</h1>
      </header>
      <main>
        <ReadinessPanel />
        <p>
          <Link to="/login">Sign in</Link>
        </p>
      </main>
    </div>
  );
}
