"""API checks of the service: see conftest.py."""
