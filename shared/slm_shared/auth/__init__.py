"""Bearer JWT authentication: tenant, roles and, for customers, their party."""

from slm_shared.auth.principal import (
    ADMIN,
    CUSTOMER,
    INGEST,
    MANAGER,
    ROLES,
    Principal,
    PrincipalDep,
    TokenVerifier,
    get_principal,
    issue_token,
    require_roles,
)
from slm_shared.auth.service import issue_service_token

__all__ = [
    "ADMIN",
    "CUSTOMER",
    "INGEST",
    "MANAGER",
    "ROLES",
    "Principal",
    "PrincipalDep",
    "TokenVerifier",
    "get_principal",
    "issue_service_token",
    "issue_token",
    "require_roles",
]
