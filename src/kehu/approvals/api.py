"""JSON API of `kehu.approvals`."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
