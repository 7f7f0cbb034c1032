"""The complaint tests' fixtures (a public-only user, a questionnaire manager)."""
from tests.complaints.conftest import public_only, survey_admin  # noqa: F401
