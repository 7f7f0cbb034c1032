"""The browser fixtures of tests/web (one chromium, a uvicorn server per test) for the intake pages."""
from tests.web.conftest import browser, context, login, other_page, page, server  # noqa: F401
