"""Domain errors: a stable code, a Chinese message and an HTTP status, rendered by one handler."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldError:
    """One invalid input field."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON form used by the API and the web forms."""
        return {"field": self.field, "code": self.code, "message": self.message}


class KehuError(Exception):
    """Base of every domain error."""

    status = 400
    code = "error"
    message = "请求无法处理"

    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status

    def as_dict(self) -> dict:
        """JSON body of the error response."""
        return {"code": self.code, "message": self.message}


class NotFound(KehuError):
    """The record does not exist or the caller may not know it exists (404 before 403)."""

    status = 404
    code = "not_found"
    message = "未找到该记录"


class Forbidden(KehuError):
    """The caller may see the record but lacks the right for this action."""

    status = 403
    code = "forbidden"
    message = "无权执行此操作"


class Unauthenticated(KehuError):
    """No valid credentials."""

    status = 401
    code = "unauthenticated"
    message = "请先登录"


class Conflict(KehuError):
    """The request conflicts with existing data (e.g. an exact duplicate)."""

    status = 409
    code = "conflict"
    message = "数据冲突"

    def __init__(self, message: str | None = None, *, code: str | None = None, detail: dict | None = None):
        super().__init__(message, code=code)
        self.detail = detail or {}

    def as_dict(self) -> dict:
        """JSON body including the conflicting record reference."""
        return {**super().as_dict(), **self.detail}


@dataclass
class ValidationFailed(KehuError):
    """Invalid input: every failing field with its code and Chinese message."""

    errors: list[FieldError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__("输入有误，请检查标注的字段", code="validation_failed", status=422)

    def as_dict(self) -> dict:
        """JSON body listing each field error."""
        return {"code": self.code, "message": self.message, "errors": [e.as_dict() for e in self.errors]}
