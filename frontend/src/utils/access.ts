/** What the signed-in user may see in the UI. The API decides for itself; this only spares people dead ends. */

import type { User } from "../services/userService";

/**
 * The roles holding the `view_all_jobs` capability the monitoring API asks of operators (apps/users/roles.py).
 * GET /api/auth/user/ names the role but not the capabilities, so the table's row is mirrored here.
 */
const OPERATOR_ROLES: ReadonlySet<string> = new Set(["admin", "service_admin"]);

/**
 * True for operators: admins and service admins by role, and superusers, whom the current-user body does not name
 * but who are always staff (the users context keeps is_staff = admin role or superuser).
 */
export function isOperator(user: User | null | undefined): boolean {
  return Boolean(user && (OPERATOR_ROLES.has(user.role) || user.is_staff));
}
