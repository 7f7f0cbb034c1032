"""JSON API of `kehu.consent`."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
