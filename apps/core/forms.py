import hashlib

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.cache import cache

from apps.core.client_ip import client_ip


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

    def locked(self) -> bool:
        counts = cache.get_many([self.address_key, self.account_key])
        return (counts.get(self.address_key, 0) >= settings.PORTAL_LOGIN_MAX_FAILURES
                or counts.get(self.account_key, 0) >= settings.PORTAL_LOGIN_MAX_ACCOUNT_FAILURES)

    def record_failure(self) -> None:
        period = settings.PORTAL_LOGIN_LOCKOUT_SECONDS
        for key in (self.address_key, self.account_key):
            cache.add(key, 0, period)
            cache.incr(key)
            # The database cache's incr re-writes the entry with the cache's default lifetime (5 minutes).
            cache.touch(key, period)

    def error(self) -> forms.ValidationError:
        minutes = settings.PORTAL_LOGIN_LOCKOUT_SECONDS // 60
        return forms.ValidationError(
            f"Too many failed attempts for this account. Try again in {minutes} minutes, "
            "or ask an administrator to reset your password.", code="locked")


class LockoutAuthenticationMixin:
    """Django's login form (the portal's or the admin's) behind the login lockout."""

    def clean(self):
        self.lockout = LoginLockout(self.request, self.cleaned_data.get("username") or "")
        if self.lockout.locked():
            raise self.lockout.error()
        return super().clean()

    def get_invalid_login_error(self):
        # Called for a wrong username or password only: a right password for an account the admin site
        # refuses (not staff) is not a guess and must not lock its owner out of the portal.
        self.lockout.record_failure()
        return super().get_invalid_login_error()


class LoginForm(LockoutAuthenticationMixin, AuthenticationForm):
    """The portal's login form."""

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
        if self.lockout.locked():
            raise self.lockout.error()
        try:
            return super().clean_old_password()
        except forms.ValidationError:
            self.lockout.record_failure()
            raise


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, label="What is it for?",
                           help_text="Shown beside the token so you can tell your tokens apart, e.g. 'CI uploads'.")
