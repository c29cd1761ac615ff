"""A GraphQL client over Django's test Client that checks every response for stored secrets.

Every secret stored while a test runs (channel and provider `secrets`, however they were saved)
is recorded from the post_save signal; every response body is checked against them when it
arrives and, at teardown, against all of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db.models.signals import post_save
from django.http import HttpResponse
from django.test import Client

from notifications.models import Channel
from providers.models import NotificationProvider

URL = "/graphql/"
SECRET_MODELS = (Channel, NotificationProvider)


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str):
        yield value


@dataclass
class SecretLedger:
    """The secret values stored during one test (shorter ones would match by chance)."""

    values: set[str] = field(default_factory=set)

    def record(self, sender: type, instance: Any, **kwargs: Any) -> None:
        self.values.update(value for value in _leaves(instance.secrets) if len(value) >= 8)

    def connect(self) -> None:
        for model in SECRET_MODELS:
            post_save.connect(self.record, sender=model, weak=False, dispatch_uid=f"secret-ledger-{model.__name__}")

    def disconnect(self) -> None:
        for model in SECRET_MODELS:
            post_save.disconnect(sender=model, dispatch_uid=f"secret-ledger-{model.__name__}")

    def leaked(self, body: str) -> list[str]:
        return sorted(value for value in self.values if value in body)


@dataclass
class GraphQLClient:
    client: Client
    ledger: SecretLedger
    bodies: list[str] = field(default_factory=list)

    def post(
        self, query: str, variables: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        response = self.client.post(
            URL,
            data=json.dumps({"query": query, "variables": variables or {}}),
            content_type="application/json",
            headers=headers or {},
        )
        self.check(response)
        return response

    def check(self, response: HttpResponse) -> None:
        body = response.content.decode()
        self.bodies.append(body)
        leaked = self.ledger.leaked(body)
        assert not leaked, f"a response contains stored secrets {leaked}: {body}"

    def __call__(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """The `data` of a request that must succeed without top-level errors."""
        response = self.post(query, variables, **kwargs)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        return body["data"]

    def errors(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        """The top-level errors of a request that must fail."""
        body = self.post(query, variables, **kwargs).json()
        assert body.get("errors"), body
        return body["errors"]

    def codes(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
        return [error["extensions"]["code"] for error in self.errors(query, variables, **kwargs)]

    def final_check(self) -> None:
        for body in self.bodies:
            leaked = self.ledger.leaked(body)
            assert not leaked, f"a response contains stored secrets {leaked}: {body}"


@pytest.fixture(autouse=True)
def secret_ledger() -> Iterator[SecretLedger]:
    ledger = SecretLedger()
    ledger.connect()
    yield ledger
    ledger.disconnect()


@pytest.fixture
def gql(db, secret_ledger: SecretLedger) -> Iterator[GraphQLClient]:
    """An anonymous client; `gql.client.force_login(user)` acts as someone."""
    client = GraphQLClient(Client(), secret_ledger)
    yield client
    client.final_check()


@pytest.fixture
def as_user(gql: GraphQLClient, make_user, superuser) -> Callable[..., GraphQLClient]:
    """Logs the client in as a new user of the given groups, or as the superuser when none is given."""

    def login(*groups: str) -> GraphQLClient:
        gql.client.force_login(make_user(*groups) if groups else superuser)
        return gql

    return login
