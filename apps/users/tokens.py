"""The JWTs the users context issues: simplejwt refresh/access pairs, RS256-signed with the private key here.

Access tokens carry `role` and `is_staff` next to simplejwt's `user_id` and `token_type`, so a context or
deployable that verifies them with the public key knows who is calling without asking the users database.
The claims are read from the database whenever a pair is issued (login, refresh), so a role change reaches
clients within one access-token lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework_simplejwt.tokens import RefreshToken

from apps.users.models import User

ROLE_CLAIM = "role"
IS_STAFF_CLAIM = "is_staff"


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def token_pair_issue(*, user: User) -> TokenPair:
    """A new refresh token (recorded as outstanding, so it can be revoked) and its access token."""
    refresh = RefreshToken.for_user(user)
    refresh[ROLE_CLAIM] = user.role
    refresh[IS_STAFF_CLAIM] = user.is_staff
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))
