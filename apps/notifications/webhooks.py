"""Outgoing webhooks without Django: the event catalogue, the signature, the payload and the target check.

The signature follows Stripe's scheme: ``X-Portal-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
HMAC-SHA256, keyed with the subscription's secret, over ``"<t>." + body``. The timestamp inside the signed
text lets a receiver refuse replays older than a few minutes.
"""

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Portal-Signature"
EVENT_HEADER = "X-Portal-Event"
DELIVERY_HEADER = "X-Portal-Delivery"


@dataclass(frozen=True)
class EventType:
    """A webhook event a subscription can choose, and the audit actions that raise it."""

    name: str
    label: str
    actions: tuple[str, ...]


EVENTS: tuple[EventType, ...] = (
    EventType("approval.granted", "A reviewer approved a version's review round", ("review.approve",)),
    EventType("approval.rejected", "A reviewer rejected a version's review round", ("review.reject",)),
    EventType("approval.voided", "An approval was voided (the approved content changed)", ("review.voided",)),
    EventType("gate.refused", "The production gate refused a version", ("production_gate.refused",)),
    EventType("gate.overridden", "An admin overrode the production gate", ("production_gate.overridden",)),
    EventType("alert.breach", "Monitoring found a breach (new or escalated alert)",
              ("alert.raised_breach", "alert.escalated")),
    EventType("alert.warning", "Monitoring raised a warning", ("alert.raised_warning",)),
    EventType("governance.changed", "A model's or version's governance state changed", ("governance.changed",)),
    EventType("risk_assessment.submitted", "A risk assessment was submitted", ("risk_assessment.submitted",)),
    EventType("version.stage_changed", "A version moved to another stage", ("version.stage_changed",)),
    EventType("evaluation.failed", "An evaluation could not be computed", ("evaluation.failed",)),
    EventType("finding.opened", "A reviewer raised a validation finding against a version", ("finding.opened",)),
    EventType("finding.closed", "A validation finding was closed", ("finding.closed",)),
    EventType("incident.opened", "An incident of a model was recorded", ("incident.opened",)),
    EventType("incident.closed", "An incident was closed", ("incident.closed",)),
)
PING = "ping"
EVENT_NAMES = frozenset(event.name for event in EVENTS)
EVENT_CHOICES = [(event.name, f"{event.name}: {event.label}") for event in EVENTS]
_BY_ACTION = {action: event.name for event in EVENTS for action in event.actions}


def event_for_action(action: str) -> str | None:
    """The webhook event an audit action raises, or None when no subscription can ask for it."""
    return _BY_ACTION.get(action)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def encode(payload: dict) -> bytes:
    """The body exactly as signed and sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def slack_text(*, event: str, subject: str, summary: str, url: str) -> str:
    """One line a chat channel shows as it is (Slack's incoming webhook reads the top-level ``text``)."""
    link = f" <{url}|open in the portal>" if url else ""
    return f"[MLOps Portal] {event}: {subject}" + (f" ({summary})" if summary else "") + link


def summarise_changes(changes: dict) -> str:
    parts = []
    for field, values in sorted(changes.items()):
        if isinstance(values, list) and len(values) == 2 and all(isinstance(v, str | int | float | None)
                                                                  for v in values):
            parts.append(f"{field} {values[0] if values[0] is not None else '-'} -> {values[1]}")
    return "; ".join(parts)[:300]


class TargetRefused(ValueError):
    """The URL is not one the portal may post to; the message says why."""


def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse anything but http(s), and (unless allowed) hosts that resolve to a loopback, private, link-local
    or otherwise internal address: a webhook must not let an admin's form reach the portal's own network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("The URL must start with http:// or https:// and name a host.")
    if parts.username or parts.password:
        raise TargetRefused("Put credentials in the receiver's own configuration, not in the URL.")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise TargetRefused(f"The host {parts.hostname!r} cannot be resolved ({exc}).") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise TargetRefused(f"The host {parts.hostname!r} resolves to {address}, an internal address. "
                                "Webhooks go to public addresses only (PORTAL_WEBHOOKS_ALLOW_PRIVATE lifts this).")


def backoff_seconds(attempts: int, *, base: int) -> int:
    """Wait before the next try after ``attempts`` failures: base, 2x, 4x, ... capped at a day."""
    return min(base * 2 ** max(attempts - 1, 0), 86_400)
