"""svc: generate services from a golden-path template and keep them up to date.

The command line (`svc`, see `scaffold.cli`) is a thin layer over this package; tests and
other tools call the same functions.
"""

from __future__ import annotations

__version__ = "0.1.0"
