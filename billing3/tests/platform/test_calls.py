# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""What typed clients of this service (`svc client add billing3` elsewhere) rely on."""

from __future__ import annotations

from fastapi import FastAPI


def test_every_operation_id_is_its_route_function_name(app: FastAPI) -> None:
    # A client function is named from the operationId: `greet`, not `greet_v1_greetings__name__get`.
    operations = [op for item in app.openapi()["paths"].values() for op in item.values()]

    assert {op["operationId"] for op in operations} >= {"greet"}
    assert all("__" not in op["operationId"] for op in operations)
