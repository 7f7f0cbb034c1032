"""JSON API of `kehu.supervision`."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
