from sqlmodel import SQLModel

import slm_measurement.catalog_keys
import slm_measurement.chain.models
import slm_measurement.models
import slm_measurement.observations.models
import slm_measurement.portfolio.models
import slm_measurement.pull.models
import slm_measurement.reports.worker
import slm_measurement.terms
import slm_measurement.tickets.models  # noqa: F401
import slm_shared.bus.models
import slm_shared.web.concurrency  # noqa: F401
from slm_shared.migrations import run_env

run_env(SQLModel.metadata)
