"""Endpoint checks: each endpoint answers with the right status, in time, in the right shape."""

from __future__ import annotations

import httpx


def within(response: httpx.Response, budget_ms: float) -> bool:
    return response.elapsed.total_seconds() * 1000 <= budget_ms


def test_livez_passes(api: httpx.Client, latency_budget_ms: float) -> None:
    response = api.get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "pass"}
    assert within(response, latency_budget_ms)


def test_readyz_is_ready(api: httpx.Client, latency_budget_ms: float) -> None:
    response = api.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] in {"pass", "warn"}
    assert within(response, latency_budget_ms)


def test_health_report_has_its_shape(api: httpx.Client, latency_budget_ms: float) -> None:
    response = api.get("/health")

    body = response.json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    assert body["serviceId"] == "billing2"
    assert isinstance(body["version"], str)
    assert isinstance(body["checks"], dict)
    assert within(response, latency_budget_ms)


def test_greeting_answers_with_a_message(api: httpx.Client, latency_budget_ms: float) -> None:
    response = api.get("/v1/greetings/Ada")

    assert response.status_code == 200
    assert set(response.json()) == {"message"}
    assert "Ada" in response.json()["message"]
    assert within(response, latency_budget_ms)


def test_greeting_refuses_a_name_that_is_too_long(api: httpx.Client) -> None:
    assert api.get("/v1/greetings/" + "a" * 65).status_code == 422
