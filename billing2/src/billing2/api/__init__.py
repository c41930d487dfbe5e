"""The service's HTTP API: one module per resource, each with its own router."""
