"""The address of the client that sent a request, as far as it can be trusted."""

from ipaddress import ip_address

from django.conf import settings


def client_ip(request) -> str:
    """The client's address: ``REMOTE_ADDR``, or the ``X-Forwarded-For`` entry our own proxies wrote.

    A client can send any ``X-Forwarded-For`` it likes; only the entries appended by the
    ``PORTAL_TRUSTED_PROXY_COUNT`` proxies in front of the portal are facts. Each proxy appends the
    address it received the request from, so with N proxies the client is the N-th entry from the
    right and everything to its left is the client's own claim. With no proxy configured (the
    default) the header is ignored. The same rule as DRF's ``NUM_PROXIES``, which is set to the same
    count, so throttles and the login lockout see one address.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.PORTAL_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    entries = [entry.strip() for entry in forwarded.split(",")]
    candidate = entries[-min(proxies, len(entries))]
    try:
        return str(ip_address(candidate))
    except ValueError:
        # Not an address our proxy would write: do not key counters on a string the client chose.
        return remote
