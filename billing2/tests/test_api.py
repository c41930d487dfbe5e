"""The example API."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_greeting_uses_the_configured_greeting(client: TestClient) -> None:
    response = client.get("/v1/greetings/Ada")

    assert response.status_code == 200
    assert response.json() == {"message": "Hello, Ada!"}


def test_greeting_rejects_a_name_that_is_too_long(client: TestClient) -> None:
    assert client.get("/v1/greetings/" + "a" * 65).status_code == 422
