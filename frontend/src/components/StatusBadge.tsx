import { humanize } from "../utils/format";

/** A job status as text on a coloured badge (the colour only repeats what the text says). */
export default function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status}`}>{humanize(status)}</span>;
}
