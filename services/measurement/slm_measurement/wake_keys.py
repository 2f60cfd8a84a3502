"""Keys a transaction sets in `session.info` for an after-commit hook to wake a worker of this process."""

from __future__ import annotations

# the transaction flagged objectives for evaluation: the evaluation worker looks for them once it commits
EVALUATION_PENDING = "slm_measurement_evaluation_pending"
