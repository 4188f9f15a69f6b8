"""Digitization progress (data team, admin): the coverage tables in the user's scope, as a page and CSV."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pipelines.coverage_tables import CoverageTables, load_coverage
from pipelines.review import coverage_view, labels, store
from pipelines.review.api.deps import ConsoleDep, CurrentUser, current_user, render
from pipelines.review.db import User
from pipelines.review.errors import BadRequest, CoverageForbidden
from pipelines.storage import Storage

router = APIRouter(dependencies=[Depends(current_user)])


def coverage_request(request: Request, storage: Storage,
                     user: User) -> tuple[CoverageTables, coverage_view.Filters]:
    if user.role not in coverage_view.ROLES:
        raise CoverageForbidden()
    try:
        filters = coverage_view.Filters.parse(request.query_params)
    except ValueError as exc:
        raise BadRequest("Bộ lọc không hợp lệ.") from exc
    return load_coverage(storage), filters


@router.get("/coverage", response_class=HTMLResponse)
def coverage(request: Request, user: CurrentUser, console: ConsoleDep) -> Response:
    tables, filters = coverage_request(request, console.storage, user)
    page = coverage_view.build(tables, store.user_scope(user), filters)
    return render(request, "coverage.html", user, page=page, empty_text=labels.COVERAGE_EMPTY)


@router.get("/coverage.csv")
def coverage_csv(request: Request, user: CurrentUser, console: ConsoleDep) -> Response:
    tables, filters = coverage_request(request, console.storage, user)
    scope = store.user_scope(user)
    name = coverage_view.csv_filename(scope, tables.as_of)
    return Response(coverage_view.csv_bytes(tables, scope, filters), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
