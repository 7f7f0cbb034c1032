"""REST adapter of questionnaires and satisfaction surveys."""
from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from kehu.customers.api import Api
from kehu.edge import body
from kehu.surveys import service
from kehu.surveys.schemas import ScheduleRequest, SurveyAnswerBody, SurveySend, TemplateCreate, TemplateUpdate

router = APIRouter(prefix="/api/v1", tags=["surveys 满意度调查"])


@router.get("/survey-templates")
def list_templates(call: Api) -> list:
    """Questionnaires with their items."""
    return call.run("survey_template.list", lambda s, ctx: service.list_templates(s, ctx))


@router.post("/survey-templates", status_code=201)
def create_template(call: Api, payload: TemplateCreate) -> dict:
    """Add a questionnaire (needs the manage_surveys capability)."""
    return call.run("survey_template.create", lambda s, ctx: service.create_template(s, ctx, data=body(payload)))


@router.patch("/survey-templates/{code}")
def update_template(call: Api, code: str, payload: TemplateUpdate) -> dict:
    """Rename or (de)activate a questionnaire (needs manage_surveys)."""
    return call.run("survey_template.update", lambda s, ctx: service.update_template(
        s, ctx, code=code, data=body(payload)), target=code)


@router.post("/surveys", status_code=201)
def send(call: Api, payload: SurveySend) -> dict:
    """Send a questionnaire to a customer in scope."""
    return call.run("survey.send", lambda s, ctx: service.send(
        s, ctx, customer_no=payload.customer_no, template=payload.template, complaint_no=payload.complaint_no,
        today=payload.sent_on or date.today()), target=payload.customer_no)


@router.post("/surveys/schedule")
def schedule(call: Api, payload: ScheduleRequest) -> dict:
    """Send the scheduled surveys due as of a day to customers in scope (by importance)."""
    return call.run("survey.schedule", lambda s, ctx: service.schedule_due(
        s, ctx, today=payload.as_of or date.today(), template=payload.template))


@router.post("/surveys/{survey_id}/answers")
def answer(call: Api, survey_id: str, payload: SurveyAnswerBody) -> dict:
    """Record the customer's answers; 422 names every invalid item (`answers.<item>`)."""
    return call.run("survey.answer", lambda s, ctx: service.answer(
        s, ctx, survey_id=survey_id, answers=dict(payload.answers), comment=payload.comment,
        today=payload.answered_on or date.today()), target=survey_id)


@router.get("/customers/{customer_no}/surveys")
def list_for_customer(call: Api, customer_no: str) -> dict:
    """Surveys of a customer with the per-item scores."""
    return call.run("survey.list", lambda s, ctx: service.list_for_customer(s, ctx, customer_no=customer_no),
                    target=customer_no)
