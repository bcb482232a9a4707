"""Single sign-on's settings: refused with a message a person can act on, clean under check --deploy."""

from tests.core.test_settings import PROD_ENV, manage, run_python

SSO_ENV = {"PORTAL_OIDC_ISSUER": "https://login.example.org/realms/acme", "PORTAL_OIDC_CLIENT_ID": "portal",
           "PORTAL_OIDC_CLIENT_SECRET": "s", "PORTAL_OIDC_ROLE_MAP": "portal-execs:executive"}


def test_the_portal_refuses_to_start_with_no_way_to_sign_in():
    result = manage("check", PORTAL_LOCAL_LOGIN="false")
    assert result.returncode != 0 and "PORTAL_LOCAL_LOGIN=false needs single sign-on" in result.stderr


def test_a_malformed_role_map_stops_the_portal_with_an_example():
    result = manage("check", PORTAL_OIDC_ROLE_MAP="portal-execs")
    assert result.returncode != 0 and "is not GROUP:ROLE" in result.stderr


def test_a_role_map_naming_an_unknown_role_fails_the_system_check():
    result = manage("check", PORTAL_OIDC_ROLE_MAP="portal-execs:boss")
    assert result.returncode != 0 and "portal-execs:boss names no portal role" in result.stderr


def test_single_sign_on_configured_passes_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PROD_ENV,
                    **SSO_ENV, PORTAL_LOCAL_LOGIN="false")
    assert result.returncode == 0, result.stderr


def test_check_deploy_warns_about_a_provider_reached_over_plain_http():
    result = manage("check", "--deploy", **PROD_ENV, PORTAL_OIDC_ISSUER="http://login.example.org",
                    PORTAL_OIDC_CLIENT_ID="portal", PORTAL_OIDC_CLIENT_SECRET="s",
                    PORTAL_OIDC_ROLE_MAP="portal-execs:executive")
    assert "core.W002" in result.stderr + result.stdout


def test_a_client_id_without_its_secret_is_refused():
    result = manage("check", **{**SSO_ENV, "PORTAL_OIDC_CLIENT_SECRET": ""})
    assert result.returncode != 0 and "PORTAL_OIDC_CLIENT_SECRET is not" in result.stderr


def test_the_role_map_is_read_group_by_group():
    result = run_python("import django; django.setup(); from django.conf import settings; "
                        "print(settings.PORTAL_OIDC_ROLE_MAP)", DJANGO_SETTINGS_MODULE="mlops_portal.settings",
                        PORTAL_OIDC_ROLE_MAP="portal-execs:executive, ml-team:data_scientist,ml-team:reviewer")
    assert result.stdout.strip() == "{'portal-execs': ['executive'], 'ml-team': ['data_scientist', 'reviewer']}"


def test_logout_at_the_provider_lets_the_logout_form_redirect_there():
    result = run_python("import django; django.setup(); from django.conf import settings; "
                        "print(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action'])",
                        DJANGO_SETTINGS_MODULE="mlops_portal.settings", **SSO_ENV,
                        PORTAL_OIDC_LOGOUT_AT_PROVIDER="true")
    assert result.stdout.strip() == "[\"'self'\", 'https://login.example.org']"
