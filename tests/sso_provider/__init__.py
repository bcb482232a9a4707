"""A tiny OpenID Connect provider (django-oauth-toolkit) that the single sign-on tests run in a second process.

``python -m tests.sso_provider.seed`` creates its database, people and client; ``python -m django runserver``
with ``DJANGO_SETTINGS_MODULE=tests.sso_provider.settings`` serves it. Configured through the environment by
``tests/browser/test_sso.py`` (``SSO_PROVIDER_DB``, ``SSO_PROVIDER_REDIRECT_URI``, ...).
"""
