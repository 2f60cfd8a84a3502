"""The role check is one dependency that is also the bearer scheme: it refuses exactly as before
(401 without a valid bearer token, 403 without one of the roles, both problem+json) and OpenAPI
still shows every guarded route under the same `HTTPBearer` scheme."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from slm_shared.auth import TokenVerifier, issue_token
from slm_shared.errors import install_error_handlers
from slm_shared.web.deps import ReaderDep, StaffDep

SECRET = "a-test-secret-of-at-least-32-bytes!!"


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = TokenVerifier(secret=SECRET)
    install_error_handlers(app)

    @app.get("/staff")
    async def staff(principal: StaffDep) -> dict[str, str]:
        return {"tenant": principal.tenant, "subject": principal.subject}

    @app.get("/read")
    async def read(principal: ReaderDep) -> dict[str, str | None]:
        return {"tenant": principal.tenant, "party": principal.party}

    return app


def bearer(role: str, tenant: str = "acme", party: str | None = None) -> dict[str, str]:
    token = issue_token(SECRET, tenant=tenant, roles=[role], subject=f"{role}-1", party=party)
    return {"Authorization": f"Bearer {token}"}


async def test_refusals_and_the_principal() -> None:
    app = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for headers in (
            {},
            {"Authorization": "Basic YTpi"},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer x"},
        ):
            refused = await client.get("/staff", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["content-type"] == "application/problem+json"
        forbidden = await client.get("/staff", headers=bearer("customer", party="p1"))
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"] == "application/problem+json"
        assert "admin, manager" in forbidden.json()["detail"]
        assert (await client.get("/staff", headers=bearer("ingest"))).status_code == 403

        allowed = await client.get("/staff", headers=bearer("manager", tenant="globex"))
        assert allowed.json() == {"tenant": "globex", "subject": "manager-1"}
        customer = await client.get("/read", headers=bearer("customer", party="p1"))
        assert customer.json() == {"tenant": "acme", "party": "p1"}
        # the scheme word is case-insensitive, as HTTPBearer had it
        token = bearer("admin")["Authorization"].removeprefix("Bearer ")
        assert (await client.get("/staff", headers={"Authorization": f"bearer {token}"})).status_code == 200


def test_openapi_shows_the_same_bearer_scheme() -> None:
    document = make_app().openapi()
    assert document["components"]["securitySchemes"] == {"HTTPBearer": {"type": "http", "scheme": "bearer"}}
    for path in ("/staff", "/read"):
        assert document["paths"][path]["get"]["security"] == [{"HTTPBearer": []}]
