"""An example resource owned by the team; replace it with the service's own API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from ..settings import Settings, get_settings

router = APIRouter(prefix="/v1", tags=["greetings"])


class Greeting(BaseModel):
    message: str


@router.get("/greetings/{name}")
async def greet(
    name: Annotated[str, Path(min_length=1, max_length=64)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Greeting:
    """Greet `name`."""
    return Greeting(message=f"{settings.greeting}, {name}!")
