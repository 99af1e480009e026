"""Who is calling, as the access token says, for every context but users: no database lookup, public key only.

The users context signs access tokens with `user_id`, `role` and `is_staff` claims (apps/users/tokens.py). Any
other context (in-process or extracted) verifies the signature with the public key and trusts those claims for
the token's short life; what a role may do beyond that is asked through apps.users.public.
"""

from __future__ import annotations

from functools import cached_property

from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.settings import api_settings


class Principal(TokenUser):
    """simplejwt's TOKEN_USER_CLASS: the stateless user of JWTStatelessUserAuthentication, with a numeric id."""

    @cached_property
    def id(self) -> int:  # type: ignore[override]  # ids are numbers everywhere else in the platform
        return int(self.token[api_settings.USER_ID_CLAIM])

    @cached_property
    def pk(self) -> int:  # type: ignore[override]
        return self.id

    @cached_property
    def role(self) -> str:
        return str(self.token.get("role", ""))
