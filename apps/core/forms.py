import contextlib
import hashlib

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.cache import cache

from apps.core import services
from apps.core.client_ip import client_ip
from apps.core.sso import METHOD_PASSWORD


def _account(username: str) -> str:
    # Hashed so that any username makes a short key without spaces or control characters.
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()


class LoginLockout:
    """Counts failed passwords and refuses further tries for a while.

    Two counters in the shared cache, each living ``PORTAL_LOGIN_LOCKOUT_SECONDS`` after the last failure:

    * per account and client address: ``PORTAL_LOGIN_MAX_FAILURES`` (5) locks that address out of that
      account. Someone guessing from one place stops there, and the owner, elsewhere, still gets in.
    * per account from all addresses: ``PORTAL_LOGIN_MAX_ACCOUNT_FAILURES`` (50) locks the account for
      everyone. This bounds a guesser who spreads tries over many addresses; set well above the
      per-address limit so that one careless or hostile address (or a mis-configured proxy that
      makes everyone one address) cannot lock the owner out.
    """

    def __init__(self, request, username: str):
        account = _account(username)
        self.address_key = f"login-failures:{account}:{client_ip(request) if request else ''}"
        self.account_key = f"login-failures:{account}"

    def reserve(self) -> bool:
        """Count this try before the password is checked; False when it is over either limit.

        Counting first matters: checking the password takes a fraction of a second, and tries sent in
        parallel would all pass a check made before any of them was counted. A try whose password turns
        out right is given back with ``release``.
        """
        period = settings.PORTAL_LOGIN_LOCKOUT_SECONDS
        counts = {}
        for key in (self.address_key, self.account_key):
            cache.add(key, 0, period)
            counts[key] = cache.incr(key)
            # The database cache's incr re-writes the entry with the cache's default lifetime (5 minutes).
            cache.touch(key, period)
        return (counts[self.address_key] <= settings.PORTAL_LOGIN_MAX_FAILURES
                and counts[self.account_key] <= settings.PORTAL_LOGIN_MAX_ACCOUNT_FAILURES)

    def release(self) -> None:
        """The reserved try had the right password: it was no failure."""
        for key in (self.address_key, self.account_key):
            with contextlib.suppress(ValueError):  # expired meanwhile: nothing to give back
                cache.decr(key)

    def error(self) -> forms.ValidationError:
        minutes = settings.PORTAL_LOGIN_LOCKOUT_SECONDS // 60
        return forms.ValidationError(
            f"Too many failed attempts for this account. Try again in {minutes} minutes, "
            "or ask an administrator to reset your password.", code="locked")


# Why Django's login form refused a password, as the audit trail says it.
_FAILURE_REASONS = {"invalid_login": "wrong username or password", "inactive": "account deactivated"}


class LockoutAuthenticationMixin:
    """Django's login form (the portal's or the admin's) behind the login lockout, audited.

    Each checked password writes ``auth.login_succeeded`` or ``auth.login_failed`` (method ``password``),
    the events single sign-on writes too (method ``oidc``). Tries refused by the lockout check no password
    and write nothing: someone hammering a locked account must not grow the trail without bound.
    """

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if not (username and password):
            return super().clean()  # nothing is checked, so nothing is tried
        lockout = LoginLockout(self.request, username)
        if not lockout.reserve():
            raise lockout.error()
        try:
            cleaned = super().clean()
        except forms.ValidationError as exc:
            reason = _FAILURE_REASONS.get(exc.code, "; ".join(exc.messages))
            if not settings.PORTAL_LOCAL_LOGIN and exc.code == "invalid_login":
                reason += " (password sign-in is switched off: only superusers may use it)"
            services.login_record_failure(method=METHOD_PASSWORD, username=username, reason=reason)
            raise
        finally:
            # A right password is no guess, even for an account the admin site then refuses (not staff):
            # it must not lock its owner out of the portal.
            if getattr(self, "user_cache", None) is not None:
                lockout.release()
        services.login_record_success(
            user=self.user_cache, method=METHOD_PASSWORD,
            note="" if settings.PORTAL_LOCAL_LOGIN else "break-glass: password sign-in is switched off")
        return cleaned


class LoginForm(LockoutAuthenticationMixin, AuthenticationForm):
    """The portal's login form. With ``PORTAL_LOCAL_LOGIN`` false it refuses every password: the page offers
    single sign-on only, and superusers' break-glass sign-in goes through /admin/login/."""

    def clean(self):
        if not settings.PORTAL_LOCAL_LOGIN:
            raise forms.ValidationError(
                "Password sign-in is switched off on this portal. Use the single sign-on button instead.",
                code="local_login_off")
        return super().clean()

    username = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class AdminLoginForm(LockoutAuthenticationMixin, AdminAuthenticationForm):
    """The Django admin's login form, sharing the portal's lockout counters."""


class PasswordChangeWithLockoutForm(PasswordChangeForm):
    """Django's password change form; wrong current passwords count against the login lockout.

    Otherwise a borrowed session could guess the password here without limit.
    """

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.lockout = LoginLockout(request, user.get_username())

    def clean_old_password(self):
        if not self.lockout.reserve():
            raise self.lockout.error()
        old_password = super().clean_old_password()
        self.lockout.release()
        return old_password


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, label="What is it for?",
                           help_text="Shown beside the token so you can tell your tokens apart, e.g. 'CI uploads'.")
