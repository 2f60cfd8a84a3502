"""Service API models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slm_catalog.common import Slug
from slm_shared.web.bounds import StorableStr
from slm_shared.web.pagination import PageLimitField, PageOffsetField

ServiceType = Literal["business", "technical"]
Lifecycle = Literal["pipeline", "live", "retired"]
ServiceSort = Literal["key", "-key", "name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]
Tag = Field(min_length=1, max_length=64)


class ConfigurationItem(BaseModel):
    """A configuration item the service runs on, as known to a CMDB; as read back, text as stored (one stored
    before U+0000 was refused keeps it)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64, description="CI class, e.g. server, database, application")
    external_id: str = Field(min_length=1, max_length=200, description="the CI's id in the CMDB")
    name: str | None = Field(None, max_length=200)
    source: str | None = Field(None, max_length=64, description="which CMDB, e.g. servicenow")


class ConfigurationItemIn(ConfigurationItem):
    """A configuration item as given (created, changed, imported): text a column can keep (`StorableStr`)."""

    type: StorableStr = Field(min_length=1, max_length=64, description="CI class, e.g. server, database, application")
    external_id: StorableStr = Field(min_length=1, max_length=200, description="the CI's id in the CMDB")
    name: StorableStr | None = Field(None, max_length=200)
    source: StorableStr | None = Field(None, max_length=64, description="which CMDB, e.g. servicenow")


class ServiceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    type: ServiceType = Field("business", description="business, or technical (supporting)")
    lifecycle: Lifecycle = "live"
    owner_team: str | None = Field(None, max_length=200)
    owner_contact: str | None = Field(None, max_length=320)
    tags: list[str] = Field(default_factory=list, max_length=50)
    configuration_items: list[ConfigurationItem] = Field(default_factory=list, max_length=200)


class ServiceCreate(ServiceBase):
    key: Slug
    configuration_items: list[ConfigurationItemIn] = Field(default_factory=list, max_length=200)  # type: ignore[assignment]


class ServiceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    type: ServiceType | None = None
    lifecycle: Lifecycle | None = None
    owner_team: str | None = Field(None, max_length=200)
    owner_contact: str | None = Field(None, max_length=320)
    tags: list[str] | None = Field(None, max_length=50)
    configuration_items: list[ConfigurationItemIn] | None = Field(None, max_length=200)


class ServicePublic(ServiceBase):
    model_config = ConfigDict(from_attributes=True)

    id: str
    key: str
    version: int
    created_at: datetime
    updated_at: datetime


class ServiceRef(BaseModel):
    """A service named in another resource."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    key: str
    name: str
    type: str
    lifecycle: str


class ServiceListQuery(BaseModel):
    """The service list's query parameters (read in one validation: `slm_shared.web.query`)."""

    model_config = ConfigDict(frozen=True)

    type: ServiceType | None = None
    lifecycle: Lifecycle | None = None
    tag: str | None = Field(None, max_length=64)
    owner: str | None = Field(None, max_length=200, description="owner team")
    q: str | None = Field(None, max_length=200, description="text in name, key or description")
    sort: ServiceSort = "key"
    limit: PageLimitField = 50
    offset: PageOffsetField = 0
