"""DRF permissions of the users context, read from the one capability table (apps/users/roles.py).

    permission_classes = [HasCapability.of(Capability.VIEW_AUDIT_LOG)]

An anonymous caller is answered 401 (DRF asks for credentials when no authenticator succeeded) and a signed-in
caller without the capability 403, both in the error envelope through the kernel's exception handler.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.users.models import User
from apps.users.roles import Capability, user_can


class HasCapability(BasePermission):
    """Allows callers whose role (or superuser flag) grants `capability`; `HasCapability.of(...)` makes one."""

    capability: ClassVar[Capability | None] = None  # None: the bare base class, which allows nobody

    @classmethod
    def of(cls, capability: Capability) -> type[HasCapability]:
        """The permission class of one capability: the same class every time, composable with `&`, `|`, `~`."""
        return _permission_class(capability)

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return self.capability is not None and isinstance(user, User) and user_can(user, self.capability)


@cache
def _permission_class(capability: Capability) -> type[HasCapability]:
    name = f"HasCapability[{capability.value}]"
    message = f"This needs the {capability.value!r} capability, which your role does not have."
    return type(name, (HasCapability,), {"capability": capability, "message": message, "__module__": __name__})
