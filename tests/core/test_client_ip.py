"""X-Forwarded-For is trusted only as far as the configured proxies wrote it."""

import pytest
from django.test import Client, RequestFactory
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle

from apps.core.client_ip import client_ip


def request_from(remote: str, forwarded: str | None = None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


def test_without_trusted_proxies_it_ignores_x_forwarded_for(settings):
    settings.PORTAL_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request_from("198.51.100.7", "203.0.113.9")) == "198.51.100.7"


def test_with_one_proxy_it_takes_the_address_the_proxy_appended(settings):
    settings.PORTAL_TRUSTED_PROXY_COUNT = 1
    # The client wrote "1.2.3.4" itself; the proxy appended the address it saw.
    assert client_ip(request_from("172.18.0.2", "1.2.3.4, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(request_from("172.18.0.2")) == "172.18.0.2"


def test_with_two_proxies_it_skips_the_inner_proxys_entry(settings):
    settings.PORTAL_TRUSTED_PROXY_COUNT = 2
    assert client_ip(request_from("10.0.0.2", "1.2.3.4, 203.0.113.9, 10.0.0.1")) == "203.0.113.9"


def test_it_falls_back_to_the_peer_for_an_entry_that_is_no_address(settings):
    settings.PORTAL_TRUSTED_PROXY_COUNT = 1
    assert client_ip(request_from("172.18.0.2", "not-an-ip")) == "172.18.0.2"


@pytest.fixture
def anon_rate_of_three():
    AnonRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "anon": "3/min"}
    yield
    AnonRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def test_a_new_x_forwarded_for_each_time_does_not_escape_the_anonymous_throttle(db, anon_rate_of_three):
    client = Client()
    statuses = [client.get("/api/v1/me/", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


def test_guessed_tokens_with_a_new_x_forwarded_for_each_time_are_throttled(db, anon_rate_of_three):
    client = Client()
    statuses = [client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {n:040d}",
                           HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_allowance(db, settings, anon_rate_of_three):
    settings.PORTAL_TRUSTED_PROXY_COUNT = 1
    client = Client(REMOTE_ADDR="172.18.0.2")
    for _ in range(3):
        client.get("/api/v1/me/", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert client.get("/api/v1/me/", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    assert client.get("/api/v1/me/", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 401
