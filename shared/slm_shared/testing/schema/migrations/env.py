from slm_shared.migrations import run_env
from slm_shared.testing.schema import metadata

run_env(metadata)
