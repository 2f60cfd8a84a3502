"""Catalog settings, read from `CATALOG_*` (and the common `SLM_*`) variables."""

from pydantic import ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from slm_shared.settings import ServiceSettings

SERVICE_PAGES = 512  # service list pages a process keeps (see `service_pages`)
# at most: besides its body (bounded in bytes), each kept page costs its key and an OrderedDict entry, up to
# about 1.1 KB at the longest `q`, `owner` and `tag` (11 MB at this bound), not counted in the byte bound
SERVICE_PAGES_MAX = 10_000
SERVICE_PAGE_BYTES = 8 * 1024 * 1024  # bytes of those pages' bodies, at most (a page above a sixteenth: not kept)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", populate_by_name=True)

    service_name: str = "catalog"
    port: int = 8101
    # GET /v1/services pages a process keeps (body and ETag) while the tenant's catalogue is unchanged (0: none
    # kept, and no generation read: every page built on every read).
    service_pages: int = SERVICE_PAGES

    @field_validator("service_pages")
    @classmethod
    def _bounded(cls, value: int, info: ValidationInfo) -> int:
        if not 0 <= value <= SERVICE_PAGES_MAX:
            raise ValueError(f"CATALOG_{str(info.field_name).upper()} must be 0 to {SERVICE_PAGES_MAX}, not {value}")
        return value
