"""What measurement must pull for applied OpenSLO documents: prometheus DataSources and the PromQL of their SLIs."""

from __future__ import annotations

from typing import Any

PROMETHEUS = "prometheus"
QUERIES = ("good_query", "total_query", "value_query")


def _query(metric: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(data source name, PromQL) of a metric, where it names both."""
    source = (metric or {}).get("metricSource") or {}
    spec = source.get("spec") or {}
    return source.get("metricSourceRef"), spec.get("query")


def data_sources(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Measurement data sources for the prometheus DataSources (url from connectionDetails)."""
    found = []
    for doc in documents:
        spec = doc.get("spec") or {}
        if doc.get("kind") == "DataSource" and str(spec.get("type", "")).lower() == PROMETHEUS:
            url = (spec.get("connectionDetails") or {}).get("url")
            if url:
                found.append({"name": doc["metadata"]["name"], "type": PROMETHEUS, "url": url})
    return found


def _sli_series(sli: dict[str, Any], sources: set[str]) -> dict[str, Any] | None:
    spec = sli.get("spec") or {}
    if threshold := spec.get("thresholdMetric"):
        ref, query = _query(threshold)
        return {"data_source": ref, "value_query": query} if ref in sources and query else None
    ratio = spec.get("ratioMetric") or {}
    total_ref, total = _query(ratio.get("total"))
    if total_ref not in sources or not total:
        return None
    if ratio.get("good"):
        good_ref, good = _query(ratio["good"])
        if good_ref == total_ref and good:
            return {"data_source": total_ref, "good_query": good, "total_query": total}
    if ratio.get("bad"):
        bad_ref, bad = _query(ratio["bad"])
        if bad_ref == total_ref and bad:
            return {"data_source": total_ref, "good_query": f"({total}) - ({bad})", "total_query": total}
    return None


def pulled_series(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One pulled series per SLO whose SLI (inline or referenced) is PromQL on a prometheus DataSource."""
    sources = {source["name"] for source in data_sources(documents)}
    slis = {d["metadata"]["name"]: d for d in documents if d.get("kind") == "SLI"}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in documents:
        if doc.get("kind") != "SLO" or doc.get("apiVersion") != "openslo/v1":
            continue
        spec = doc.get("spec") or {}
        for objective in spec.get("objectives") or [{}]:
            sli = objective.get("indicator") or spec.get("indicator")
            ref = objective.get("indicatorRef") or spec.get("indicatorRef")
            sli = sli or slis.get(ref or "")
            if not sli:
                continue
            series = _sli_series(sli, sources)
            if series:
                key = (spec["service"], sli["metadata"]["name"])
                found[key] = {"service": key[0], "indicator": key[1], **series}
    return list(found.values())


def differs(held: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a pulled series measurement holds is not the one the documents define (its SLI changed)."""
    return any(held.get(name) != wanted.get(name) for name in QUERIES)
