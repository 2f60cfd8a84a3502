"""What measurement pulls for applied OpenSLO documents: prometheus DataSources and the PromQL of their SLIs."""

from __future__ import annotations

from slm_shared.terms.openslo_wiring import data_sources, differs, pulled_series

__all__ = ["data_sources", "differs", "pulled_series"]
