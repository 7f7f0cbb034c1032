"""The browser fixtures live in `tests/fixtures/browser.py`, loaded once for the whole suite by `tests/conftest.py`
(one chromium per test process: a second sync Playwright in the same process fails)."""
from tests.fixtures.browser import assert_labelled, normalise  # noqa: F401  (helpers imported by the tests here)
