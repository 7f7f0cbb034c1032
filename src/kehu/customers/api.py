"""REST adapter of the archive: parse, call one service function, map the result."""

from typing import Annotated, Optional

from fastapi import APIRouter, Depends, Query, Response

from kehu.customers import children, service
from kehu.edge import ApiBearer, ApiCall, DirectRoute, body
from kehu.schemas import CHILD_CREATE, CustomerCreate, CustomerUpdate, ReasonRequest, RevealRequest

router = APIRouter(prefix="/api/v1/customers", tags=["customers 客户档案"])


#: the call context of an API request: the bearer scheme itself (async, no I/O: no worker-thread hop)
api = ApiBearer()
Api = Annotated[ApiCall, Depends(api)]
CHILD_KEYS = {"contacts": "contact", "addresses": "address", "anniversaries": "anniversary", "relations": "relation"}


async def get_customer(call: Api, archive_no: str) -> dict:
    """One archive as the caller may see it (masked / hidden per field)."""
    return await call.read("customer.read", lambda s, ctx: service.get(s, ctx, archive_no=archive_no),
                           target=archive_no)


def add_detail_route(app) -> None:
    """Declare `get_customer`, the most frequent request, on the app itself, before the routers are included.

    Its handler calls the endpoint straight (see DirectRoute). A route of an included router is matched
    twice per request (by the app's router, then by its own) after the routers included before it; as one
    of the app's own routes it is matched once, right after FastAPI's documentation routes. Same path,
    tags and OpenAPI operation as under `router`.
    """
    app.router.add_api_route(router.prefix + "/{archive_no}", get_customer, methods=["GET"], tags=router.tags,
                             route_class_override=DirectRoute)


@router.get("")
def list_customers(call: Api, q: Annotated[Optional[str], Query(max_length=100)] = None,
                   owner_id: Optional[str] = None, department_id: Optional[str] = None,
                   status: Optional[str] = None, kind: Optional[str] = None, region: Optional[str] = None,
                   province: Optional[str] = None, importance: Optional[str] = None,
                   tag: Annotated[Optional[str], Query(max_length=40, description="标签代码")] = None,
                   grade: Annotated[Optional[str], Query(max_length=1, description="客户等级 A/B/C/D")] = None,
                   segment: Annotated[Optional[str], Query(max_length=32, description="我的客户分群编号")] = None,
                   sort: Annotated[str, Query(pattern="^(new|old|name|archive_no|updated)$")] = "new",
                   cursor: Annotated[Optional[str], Query(max_length=400)] = None,
                   limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """Customers in scope: search by name, pinyin (initials), archive no., exact mobile / ID / e-mail / USCC."""
    filters = dict(owner_id=owner_id, department_id=department_id, status=status, kind=kind, region=region,
                   province=province, importance=importance, tag=tag, grade=grade,
                   segment=segment)
    return call.run("customer.list", lambda s, ctx: service.list_(s, ctx, q=q, filters=filters, sort=sort,
                                                                   cursor=cursor, limit=limit))


@router.post("", status_code=201)
def create_customer(call: Api, payload: CustomerCreate, response: Response) -> dict:
    """Create an archive; 422 lists every invalid field, 409 points to an exact duplicate."""
    data = body(payload)
    reason = data.pop("reason", None)
    kids = {CHILD_KEYS[k]: data.pop(k) for k in list(data) if k in CHILD_KEYS}

    def go(s, ctx):
        customer = service.create(s, ctx, data=data, children=kids, reason=reason)
        return {"archive_no": customer.archive_no, "version": customer.version}

    result = call.run("customer.create", go)
    response.headers["Location"] = f"/api/v1/customers/{result['archive_no']}"
    return result


@router.patch("/{archive_no}")
def update_customer(call: Api, archive_no: str, payload: CustomerUpdate) -> dict:
    """Change fields; a reason is required and recorded in the change history."""
    data = body(payload)
    reason, version = data.pop("reason", None), data.pop("version", None)

    def go(s, ctx):
        c = service.update(s, ctx, archive_no=archive_no, data=data, reason=reason, version=version)
        return {"archive_no": c.archive_no, "version": c.version}

    return call.run("customer.update", go, target=archive_no)


@router.delete("/{archive_no}")
def archive_customer(call: Api, archive_no: str, payload: ReasonRequest) -> dict:
    """Archive (归档) a customer; destruction is a separate, approved process."""
    def go(s, ctx):
        c = service.archive(s, ctx, archive_no=archive_no, reason=payload.reason)
        return {"archive_no": c.archive_no, "status": c.status}

    return call.run("customer.archive", go, target=archive_no)


@router.post("/{archive_no}/reveal")
def reveal(call: Api, archive_no: str, payload: RevealRequest) -> dict:
    """Plain values of chosen fields; needs the reveal right and a reason; audited."""
    return call.run("customer.reveal", lambda s, ctx: service.reveal(
        s, ctx, archive_no=archive_no, fields=payload.fields, reason=payload.reason, entity=payload.entity,
        record_id=payload.record_id), target=archive_no)


@router.get("/{archive_no}/history")
async def history(call: Api, archive_no: str, before: Optional[int] = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    """Change history: who, when, field, old → new (masked per rights), reason."""
    return await call.read("customer.history", lambda s, ctx: service.history(
        s, ctx, archive_no=archive_no, before=before, limit=limit), target=archive_no)


def _child_routes(plural: str, entity: str) -> None:
    model = CHILD_CREATE[entity]

    @router.post(f"/{{archive_no}}/{plural}", status_code=201, name=f"add_{entity}")
    def add(call: Api, archive_no: str, payload: model, reason: Optional[str] = Query(None, max_length=500)) -> dict:  # type: ignore[valid-type]
        return call.run(f"{entity}.create", lambda s, ctx: children.add(
            s, ctx, archive_no=archive_no, entity=entity, data=body(payload), reason=reason), target=archive_no)

    @router.patch(f"/{{archive_no}}/{plural}/{{record_id}}", name=f"update_{entity}")
    def change(call: Api, archive_no: str, record_id: str, payload: model,  # type: ignore[valid-type]
               reason: str = Query(..., max_length=500)) -> dict:
        return call.run(f"{entity}.update", lambda s, ctx: children.update(
            s, ctx, archive_no=archive_no, entity=entity, record_id=record_id, data=body(payload), reason=reason),
            target=archive_no)

    @router.delete(f"/{{archive_no}}/{plural}/{{record_id}}", name=f"delete_{entity}")
    def remove(call: Api, archive_no: str, record_id: str, reason: str = Query(..., max_length=500)) -> dict:
        return call.run(f"{entity}.delete", lambda s, ctx: children.delete(
            s, ctx, archive_no=archive_no, entity=entity, record_id=record_id, reason=reason), target=archive_no)


for _plural, _entity in CHILD_KEYS.items():
    _child_routes(_plural, _entity)
