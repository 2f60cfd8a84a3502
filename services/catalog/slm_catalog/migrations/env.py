from sqlmodel import SQLModel

import slm_shared.bus.models
import slm_shared.web.concurrency  # noqa: F401
from slm_shared.migrations import run_env

run_env(SQLModel.metadata)
