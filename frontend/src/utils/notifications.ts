/** Keeping lists of notifications in step with what was marked read, here, in the bell or in another tab. */

import type { AppNotification } from "../services/notificationService";

/** `items` with those whose id is in `ids` (every one when `ids` is null) marked read. */
export function markedRead(items: AppNotification[], ids: number[] | null): AppNotification[] {
  return items.map((item) => (ids === null || ids.includes(item.id) ? { ...item, is_read: true } : item));
}
