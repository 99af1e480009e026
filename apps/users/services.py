"""Writes of the users context: logging in and out, token rotation, passwords, registration, the first admin.

Every change runs in one transaction on the `users` alias and records a `user.action.logged` event in the
same transaction, so the audit trail has an entry exactly when the change committed. Event payloads carry
who, what, from where (address, user agent) and never a password or a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate, user_logged_in
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from apps.kernel.envelope import USER_ACTION_LOGGED
from apps.kernel.errors import ApplicationError, NotFoundError
from apps.kernel.outbox import outbox_record
from apps.users.lockout import LOCKOUT_MESSAGE, lockout_retry_after_seconds
from apps.users.models import OutboxEvent, Profile, Role, User
from apps.users.passwords import password_problems
from apps.users.tokens import TokenPair, token_pair_issue

DB = "users"
USER_AGENT_MAX = 256


class AuthenticationFailedError(ApplicationError):
    status, code = 401, "AUTHENTICATION_ERROR"


class LoginLockedOutError(ApplicationError):
    status, code = 429, "RATE_LIMIT_EXCEEDED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RegistrationClosedError(NotFoundError):
    """Self-registration is off: the endpoint answers as if it did not exist."""


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from, as recorded in audit events (the same address the gateway rate-limits)."""

    ip: str = ""
    user_agent: str = ""

    @classmethod
    def of(cls, request: HttpRequest) -> ClientInfo:
        return cls(
            ip=request.META.get("REMOTE_ADDR", ""),
            user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
        )


@dataclass(frozen=True)
class LoginResult:
    user: User
    tokens: TokenPair


def user_action_record(
    *,
    action: str,
    actor_id: int | None,
    client: ClientInfo,
    resource_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit event about a user account; must run inside the transaction of the change it describes."""
    target = resource_id if resource_id is not None else actor_id
    outbox_record(
        outbox=OutboxEvent,
        topic=USER_ACTION_LOGGED,
        aggregate_id=target if target is not None else "anonymous",
        payload={
            "actor_id": actor_id,
            "action": action,
            "resource_type": "user",
            "resource_id": None if target is None else str(target),
            "ip": client.ip,
            "user_agent": client.user_agent,
            "details": details or {},
        },
    )


def user_create(
    *,
    username: str,
    email: str,
    password: str,
    role: str = Role.RESEARCHER,
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    """A user with its profile; the caller validates the password and owns the transaction and the event."""
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    user.set_password(password)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        raise ApplicationError("The account details are not valid.", details=exc.message_dict) from exc
    user.save(using=DB)
    Profile.objects.using(DB).create(user=user)
    return user


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


def _refresh_tokens_revoke_all(*, user: User) -> int:
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
        _refresh_tokens_revoke_all(user=user)
        tokens = token_pair_issue(user=user)
        user_action_record(action="password_change", actor_id=user.pk, client=client)
    return tokens


def user_register(
    *,
    enabled: bool,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    client: ClientInfo,
) -> User:
    """Self-registration (when the platform allows it): always a researcher, never staff."""
    if not enabled:
        raise RegistrationClosedError("Not found.")
    candidate = User(username=username, email=email, first_name=first_name, last_name=last_name)
    problems = password_problems(password, user=candidate)
    if problems:
        raise ApplicationError("The password is not acceptable.", details={"password": problems})
    with transaction.atomic(using=DB):
        if User.objects.using(DB).filter(username=username).exists():
            raise ApplicationError(
                "A user with that username already exists.",
                details={"username": ["A user with that username already exists."]},
            )
        user = user_create(
            username=username,
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            role=Role.RESEARCHER,
        )
        user_action_record(action="register", actor_id=user.pk, client=client)
    return user


@dataclass(frozen=True)
class AdminEnsured:
    user: User
    created: bool
    changed: list[str]


def admin_ensure(*, username: str, email: str, password: str) -> AdminEnsured:
    """Create the first admin, or bring an existing account of that name to admin with these settings.

    Idempotent: a second run with the same values changes nothing and records nothing.
    """
    existing = User.objects.using(DB).filter(username=username).first()
    problems = password_problems(password, user=existing or User(username=username, email=email))
    if problems:
        raise ApplicationError("The admin password is not acceptable.", details={"password": problems})
    with transaction.atomic(using=DB):
        if existing is None:
            user = user_create(
                username=username,
                email=email,
                password=password,
                role=Role.ADMIN,
                is_staff=True,
                is_superuser=True,
            )
            user_action_record(action="admin_created", actor_id=None, client=ClientInfo(), resource_id=user.pk)
            return AdminEnsured(user=user, created=True, changed=[])
        user = User.objects.using(DB).select_for_update().get(pk=existing.pk)
        wanted = {"email": email, "role": Role.ADMIN.value, "is_staff": True, "is_superuser": True, "is_active": True}
        changed = [field for field, value in wanted.items() if getattr(user, field) != value]
        for field in changed:
            setattr(user, field, wanted[field])
        if not user.check_password(password):
            user.set_password(password)
            changed.append("password")
        if changed:
            user.save(using=DB)
            user_action_record(
                action="admin_updated",
                actor_id=None,
                client=ClientInfo(),
                resource_id=user.pk,
                details={"changed": sorted(changed)},
            )
        Profile.objects.using(DB).get_or_create(user=user)
        return AdminEnsured(user=user, created=False, changed=sorted(changed))
