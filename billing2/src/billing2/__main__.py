"""Start the service: `python -m` this package, or the console script of the same name."""

from __future__ import annotations

from .app import create_app
from .runtime import serve
from .runtime.config import load_settings
from .settings import Settings


def main() -> None:
    # A configuration mistake stops the start here: one line on stderr, exit 2.
    settings = load_settings(Settings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
