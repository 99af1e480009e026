import { humanize } from "../utils/format";

/** A service's health: a coloured dot followed by the status in words. */
export default function HealthDot({ status }: { status: string }) {
  return (
    <span className="health">
      <span className={`dot dot-${status}`} aria-hidden="true" />
      {humanize(status)}
    </span>
  );
}
