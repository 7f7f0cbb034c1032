"""JSON API of `kehu.exports`."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
