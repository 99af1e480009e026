"""The base of the users context's views: the caller is the account in the users database, not only the token.

Every other context authenticates statelessly from the token's claims (REST_FRAMEWORK's default,
apps/kernel/principal.py). The users context owns the accounts, so its views load the caller's row: a
deactivated account is refused at once, and services get a real User to change.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from apps.users.models import User


class UsersApi(APIView):
    authentication_classes = [JWTAuthentication]


def current_user(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):  # IsAuthenticated ran first; this narrows the type
        raise exceptions.NotAuthenticated()
    return user
