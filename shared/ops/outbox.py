"""What operators do with the outbox: endpoints (add, change, remove, rotate the secret) and deliveries (list,
show, retry). Every change is audited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from shared import addresses, webhooks
from shared.accounts import AccountError, check_name
from shared.canonical import EVENT_TYPES
from shared.connections import Connections
from shared.db import outbox
from shared.ops.audit import Refused, audited
from shared.ops.documents import delivery_document, delivery_summary, endpoint_document
from shared.providers import all_providers

# How long a rotated-out secret keeps signing, unless the operator says otherwise.
ROTATION_OVERLAP_SECONDS = 86_400.0


def _check_account(account: str | None) -> None:
    if account is not None:
        try:
            check_name(account)
        except AccountError as exc:
            raise Refused(str(exc)) from None


def _check_filters(events: list[str] | None, provider: str | None) -> None:
    unknown = sorted(set(events or ()) - set(EVENT_TYPES))
    if unknown:
        raise Refused(f"unknown event types {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    if provider is not None and provider not in all_providers():
        raise Refused(f"unknown provider {provider!r}; known: {', '.join(all_providers())}")


class OutboxService(Connections):
    def _check_url(self, url: str) -> None:
        try:
            webhooks.check_url(url, self.settings.endpoint_allowed_hosts)
            if not self.settings.endpoint_allow_private:
                parts = urlsplit(url)
                addresses.check_host(parts.hostname or "", parts.port)
        except (webhooks.EndpointRefused, addresses.AddressRefused) as exc:
            raise Refused(str(exc)) from None

    def add_endpoint(
        self, url: str, events: list[str] | None, provider: str | None, *, actor: str, account: str | None = None
    ) -> dict[str, Any]:
        """A new endpoint, with its secret (shown here and at rotation only)."""
        shown = webhooks.without_credentials(url)
        wanted = {"url": shown, "events": events, "provider": provider, "account": account}
        with audited(self, actor, "endpoint.add", target=shown, filters=_set(wanted)) as (session, done):
            self._check_url(url)
            _check_filters(events, provider)
            _check_account(account)
            secret = webhooks.new_secret()
            made = outbox.add_endpoint(session, self.sealer, url, secret, events, provider, account)
            done.text, done.count = f"added endpoint {made.id}", 1
            return {**endpoint_document(made), "secret": secret}

    def endpoints(self) -> list[dict[str, Any]]:
        with self.session() as session:
            return [endpoint_document(e) for e in outbox.endpoints(session)]

    def endpoint(self, endpoint_id: int) -> dict[str, Any] | None:
        with self.session() as session:
            found = outbox.endpoint(session, endpoint_id)
            return None if found is None else endpoint_document(found)

    def change_endpoint(self, endpoint_id: int, changes: dict[str, Any], *, actor: str) -> dict[str, Any] | None:
        """Change url, events, provider, account or enabled; None when there is no such endpoint."""
        if set(changes) == {"enabled"}:
            action = "endpoint.enable" if changes["enabled"] else "endpoint.disable"
        else:
            action = "endpoint.change"
        noted = {**changes, **({"url": webhooks.without_credentials(changes["url"])} if "url" in changes else {})}
        with audited(self, actor, action, target=f"endpoint {endpoint_id}", filters=_set(noted)) as (
            session,
            done,
        ):
            if "url" in changes:
                self._check_url(changes["url"])
            _check_filters(changes.get("event_types"), changes.get("provider"))
            _check_account(changes.get("account"))
            found = outbox.endpoint(session, endpoint_id, lock=True)
            if found is None:
                done.text, done.count = "no such endpoint", 0
                return None
            if found.kind == "handler" and "url" in changes:
                raise Refused("a handler has no URL")
            document = endpoint_document(outbox.change_endpoint(session, found, changes))
            done.count = 1
        if changes.get("enabled"):
            self.doorbell.ring_deliveries()
        return document

    def remove_endpoint(self, endpoint_id: int, *, actor: str) -> bool:
        with audited(self, actor, "endpoint.remove", target=f"endpoint {endpoint_id}") as (session, done):
            removed = outbox.remove_endpoint(session, endpoint_id)
            done.text, done.count = ("removed" if removed else "no such endpoint"), int(removed)
            return removed

    def rotate_secret(
        self, endpoint_id: int, keep_seconds: float = ROTATION_OVERLAP_SECONDS, *, actor: str
    ) -> dict[str, Any] | None:
        target = f"endpoint {endpoint_id}"
        with audited(self, actor, "endpoint.rotate_secret", target=target) as (session, done):
            found = outbox.endpoint(session, endpoint_id, lock=True)
            if found is None:
                done.text, done.count = "no such endpoint", 0
                return None
            if found.kind != "webhook":
                raise Refused("a handler has no secret")
            secret = webhooks.new_secret()
            until = outbox.rotate_secret(session, self.sealer, found, secret, keep_seconds)
            done.text, done.count = f"rotated; the previous secret signs until {until.isoformat()}", 1
            return {**endpoint_document(found), "secret": secret, "previous_secret_valid_until": until.isoformat()}

    def deliveries(
        self, filters: outbox.DeliveryFilters, *, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        with self.session() as session:
            found = outbox.deliveries(session, filters, limit=limit, before=before)
            logged = outbox.attempt_counts(session, [d.id for d, _ in found])
            return [delivery_summary(d, e, logged.get(d.id, 0)) for d, e in found]

    def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        with self.session() as session:
            found = outbox.delivery(session, delivery_id)
            return None if found is None else delivery_document(*found)

    def matching_deliveries(self, filters: outbox.DeliveryFilters) -> list[int]:
        with self.session() as session:
            return outbox.matching_deliveries(session, filters)

    def retry_deliveries(
        self, delivery_ids: Sequence[int], *, actor: str, filters: outbox.DeliveryFilters | None = None
    ) -> list[int]:
        """Make deliveries due now with a fresh schedule; the ids made due."""
        chosen = filters.to_document() if filters else None
        target = None if filters else ids_text(delivery_ids)
        with audited(self, actor, "delivery.retry", target=target, filters=chosen) as (session, done):
            made_due = outbox.retry(session, delivery_ids)
            done.text, done.count = f"retried {len(made_due)} of {len(delivery_ids)}", len(made_due)
        if made_due:
            self.doorbell.ring_deliveries()
        return made_due


def _set(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def ids_text(ids: Sequence[int], shown: int = 20) -> str:
    listed = ", ".join(map(str, ids[:shown]))
    return listed + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
