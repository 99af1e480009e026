"""Writes of the users context about authentication: login, token rotation, logout, password change.

Every change runs in one transaction on the `users` alias together with its audit event (apps/users/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import authenticate, user_logged_in
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from apps.kernel.errors import ApplicationError
from apps.users.events import ClientInfo, user_action_record
from apps.users.lockout import LOCKOUT_MESSAGE, lockout_retry_after_seconds
from apps.users.models import DB, User
from apps.users.passwords import password_problems
from apps.users.tokens import TokenPair, token_pair_issue


class AuthenticationFailedError(ApplicationError):
    status, code = 401, "AUTHENTICATION_ERROR"


class LoginLockedOutError(ApplicationError):
    status, code = 429, "RATE_LIMIT_EXCEEDED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginResult:
    user: User
    tokens: TokenPair


def auth_login(*, request: HttpRequest, username: str, password: str) -> LoginResult:
    """Check credentials through Django's backends (axes first, so a locked-out pair is refused unchecked).

    Takes the HttpRequest because axes keys its failure count on the request's address. The failure is
    recorded (by axes and in the outbox) before the error is raised, outside the transaction, so the
    refusal does not roll its own record back.
    """
    client = ClientInfo.of(request)
    locked_out = False
    with transaction.atomic(using=DB):
        user = authenticate(request, username=username, password=password)
        if not isinstance(user, User):
            locked_out = bool(getattr(request, "axes_locked_out", False))
            user_action_record(
                action="login_locked_out" if locked_out else "login_failed",
                actor_id=None,
                client=client,
                details={"username": username[:150]},
            )
        else:
            user_logged_in.send(sender=User, request=request, user=user)  # last_login; axes resets the count
            tokens = token_pair_issue(user=user)
            user_action_record(action="login", actor_id=user.pk, client=client)
    if not isinstance(user, User):
        if locked_out:
            raise LoginLockedOutError(LOCKOUT_MESSAGE, retry_after=lockout_retry_after_seconds())
        raise AuthenticationFailedError("No active account found with the given credentials.")
    return LoginResult(user=user, tokens=tokens)


def _refresh_token_parse(raw: str) -> RefreshToken:
    """A refresh token whose signature, expiry, type and blacklist entry all check out."""
    try:
        return RefreshToken(raw)  # type: ignore[arg-type]
    except TokenError as exc:
        raise AuthenticationFailedError("The refresh token is invalid, expired or revoked.") from exc


def _refresh_token_revoke(token: RefreshToken, *, user: User) -> bool:
    """Blacklist the token; False when it already was (another request revoked it first)."""
    outstanding, _ = OutstandingToken.objects.using(DB).get_or_create(
        jti=token[jwt_settings.JTI_CLAIM],
        defaults={"user": user, "token": str(token), "expires_at": datetime_from_epoch(token["exp"])},
    )
    try:
        with transaction.atomic(using=DB):
            _, created = BlacklistedToken.objects.using(DB).get_or_create(token=outstanding)
    except IntegrityError:  # a concurrent revocation won the race
        return False
    return created


def _token_user(token: RefreshToken) -> User:
    user = User.objects.using(DB).filter(pk=token.get(jwt_settings.USER_ID_CLAIM)).first()
    if user is None or not user.is_active:
        raise AuthenticationFailedError("The refresh token is invalid, expired or revoked.")
    return user


def auth_refresh(*, refresh: str) -> TokenPair:
    """Rotate: the presented refresh token is revoked and a new pair is issued with fresh claims.

    A token can be used once: of two requests presenting the same token, one gets a new pair and the other 401.
    """
    token = _refresh_token_parse(refresh)
    with transaction.atomic(using=DB):
        user = _token_user(token)
        if not _refresh_token_revoke(token, user=user):
            raise AuthenticationFailedError("The refresh token is invalid, expired or revoked.")
        return token_pair_issue(user=user)


def auth_logout(*, user: User, refresh: str, client: ClientInfo) -> None:
    """Revoke the caller's own refresh token; someone else's, or a revoked one, is refused alike."""
    problem = ApplicationError(
        "The refresh token is invalid, expired or already revoked.",
        details={"refresh": ["The refresh token is invalid, expired or already revoked."]},
    )
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]
    except TokenError as exc:
        raise problem from exc
    if str(token.get(jwt_settings.USER_ID_CLAIM)) != str(user.pk):
        raise problem
    with transaction.atomic(using=DB):
        if not _refresh_token_revoke(token, user=user):
            raise problem
        user_action_record(action="logout", actor_id=user.pk, client=client)


def refresh_tokens_revoke_all(*, user: User) -> int:
    """Blacklist every refresh token the user still holds (all sessions end)."""
    pending = OutstandingToken.objects.using(DB).filter(user=user).exclude(blacklistedtoken__isnull=False)
    revoked = 0
    for outstanding in pending:
        BlacklistedToken.objects.using(DB).get_or_create(token=outstanding)
        revoked += 1
    return revoked


def user_password_change(*, request: HttpRequest, user: User, current_password: str, new_password: str) -> TokenPair:
    """Change the password after checking the current one (through axes, so guessing it is throttled too).

    Every refresh token the user held is revoked, ending other sessions; the caller gets a fresh pair.
    """
    client = ClientInfo.of(request)
    with transaction.atomic(using=DB):
        checked = authenticate(request, username=user.get_username(), password=current_password)
        confirmed = isinstance(checked, User) and checked.pk == user.pk
        locked_out = bool(getattr(request, "axes_locked_out", False))
        if not confirmed:
            user_action_record(action="password_change_failed", actor_id=user.pk, client=client)
    if not confirmed:
        if locked_out:
            raise LoginLockedOutError(LOCKOUT_MESSAGE, retry_after=lockout_retry_after_seconds())
        raise ApplicationError(
            "The current password is incorrect.",
            details={"current_password": ["The current password is incorrect."]},
        )
    problems = password_problems(new_password, user=user)
    if problems:
        raise ApplicationError("The new password is not acceptable.", details={"new_password": problems})
    with transaction.atomic(using=DB):
        user.set_password(new_password)
        user.save(using=DB, update_fields=["password"])
        refresh_tokens_revoke_all(user=user)
        tokens = token_pair_issue(user=user)
        user_action_record(action="password_change", actor_id=user.pk, client=client)
    return tokens
