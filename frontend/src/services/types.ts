/** Shapes shared by every context's API (API_CONTRACT.md "Conventions"). */

/** A page of a list endpoint: page size 20 by default, `?page=`, `?page_size=` up to 100. */
export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** The `?page=` number of a `next`/`previous` link, or null. */
export function pageNumberOf(link: string | null): number | null {
  if (!link) return null;
  try {
    const value = new URL(link, "http://x").searchParams.get("page");
    return value ? Number(value) : 1;
  } catch {
    return null;
  }
}
