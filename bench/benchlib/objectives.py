"""The evaluated objective rows the read benchmarks seed: one read (`OBJECTIVE`) among 200 of one tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

OBJECTIVE = "availability-bench"


def objective_rows(now: datetime, count: int = 200) -> list[dict[str, Any]]:
    """Rows of measurement's objectives table as activation leaves them, the first one `OBJECTIVE`."""
    return [
        {
            "id": f"row-{n}",
            "tenant": "bench",
            "agreement_id": f"agreement-{n}",
            "agreement_version": 1,
            "agreement_kind": "SLA",
            "objective_id": OBJECTIVE if n == 0 else f"objective-{n}",
            "service_key": f"service-{n % 20}",
            "indicator": "availability",
            "target": 0.999,
            "window_kind": "rolling",
            "window_duration": "30d",
            "maintenance_windows": [],
            "details": {},
            "firing_alerts": [],
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
