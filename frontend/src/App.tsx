import ReadinessPanel from "./components/ReadinessPanel";

export const PRODUCT_NAME = "Federated Imputation Platform";

export default function App() {
  return (
    <>
      <header>
        <h1>{PRODUCT_NAME}</h1>
      </header>
      <main>
        <ReadinessPanel />
      </main>
    </>
  );
}
