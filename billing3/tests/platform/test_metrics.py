# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""The Prometheus endpoint: RED metrics by route template, and the build-info gauge."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(client: TestClient) -> list[Sample]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    matching = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert matching, f"no sample {name}{labels}"
    return sum(matching)


def test_requests_are_counted_by_route_template_not_path(client: TestClient) -> None:
    client.get("/v1/greetings/Ada")
    client.get("/v1/greetings/Grace")

    samples = scrape(client)

    route = "/v1/greetings/{name}"
    assert value(samples, "http_requests_total", method="GET", route=route, status="200") == 2
    assert value(samples, "http_request_duration_seconds_count", method="GET", route=route) == 2
    assert not [s for s in samples if "Ada" in s.labels.get("route", "")]


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    client.get("/no/such/page")

    samples = scrape(client)

    assert value(samples, "http_requests_total", route="<unmatched>", status="404") == 1


def test_docs_and_openapi_are_labelled_by_their_route(client: TestClient) -> None:
    client.get("/docs")
    client.get("/openapi.json")

    samples = scrape(client)

    assert value(samples, "http_requests_total", route="/docs", status="200") == 1
    assert value(samples, "http_requests_total", route="/openapi.json", status="200") == 1
    assert not [s for s in samples if s.labels.get("route") == "<unmatched>"]


def test_duration_histogram_uses_the_standard_buckets(client: TestClient) -> None:
    client.get("/v1/greetings/Ada")

    buckets = {
        s.labels["le"]
        for s in scrape(client)
        if s.name == "http_request_duration_seconds_bucket" and s.labels["route"] == "/v1/greetings/{name}"
    }

    assert {"0.005", "0.1", "1.0", "10.0", "+Inf"} <= buckets


def test_requests_in_progress_count_the_scrape_itself(client: TestClient) -> None:
    assert value(scrape(client), "http_requests_in_progress", method="GET") == 1


def test_build_info_carries_the_version(client: TestClient) -> None:
    version = client.get("/health").json()["version"]

    assert value(scrape(client), "service_build_info", version=version) == 1
