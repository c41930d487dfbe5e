"""Transactions: sequences of calls in which each step uses what the earlier ones answered."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

GREETING_ROUTE = "/v1/greetings/{name}"


def greetings_served(api: httpx.Client) -> float:
    """The instance's count of greetings answered 200, from its /metrics."""
    response = api.get("/metrics")
    assert response.status_code == 200
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "http_requests_total"
        and sample.labels.get("route") == GREETING_ROUTE
        and sample.labels.get("status") == "200"
    )


def test_a_service_greets_itself_and_counts_it(api: httpx.Client) -> None:
    before = greetings_served(api)
    service_id = api.get("/health").json()["serviceId"]
    request_id = f"api-check-{uuid.uuid4().hex[:12]}"

    greeting = api.get(f"/v1/greetings/{service_id}", headers={"X-Request-ID": request_id})

    assert greeting.status_code == 200
    assert service_id in greeting.json()["message"]
    assert greeting.headers["x-request-id"] == request_id
    assert greetings_served(api) >= before + 1
