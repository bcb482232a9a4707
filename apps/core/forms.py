from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache


def _attempts_key(request, username: str) -> str:
    address = request.META.get("REMOTE_ADDR", "") if request else ""
    return f"login-failures:{address}:{username.strip().lower()}"


class LoginForm(AuthenticationForm):
    """Django's login form, with a lockout after repeated failures for one username from one address."""

    username = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        key = _attempts_key(self.request, username)
        if cache.get(key, 0) >= settings.PORTAL_LOGIN_MAX_FAILURES:
            minutes = settings.PORTAL_LOGIN_LOCKOUT_SECONDS // 60
            raise forms.ValidationError(
                f"Too many failed attempts for this account from your address. Try again in {minutes} minutes, "
                "or ask an administrator to reset your password.", code="locked")
        try:
            return super().clean()
        except forms.ValidationError:
            cache.add(key, 0, settings.PORTAL_LOGIN_LOCKOUT_SECONDS)
            cache.incr(key)
            raise
