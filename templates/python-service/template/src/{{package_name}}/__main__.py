"""Start the service: `python -m` this package, or the console script of the same name."""

from __future__ import annotations

from .app import create_app
from .runtime import serve
from .settings import Settings


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
