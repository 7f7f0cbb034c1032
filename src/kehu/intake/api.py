"""JSON API of `kehu.intake`."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
