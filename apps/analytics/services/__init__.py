"""Every change analytics makes, by concern: storing activity (``ingest``), the roll-ups (``rollups``), RFM scoring
(``rfm``). Analytics stores and aggregates; it moves no points (a purchase's earning is a reaction members registers)."""

from apps.analytics.services.ingest import (
    IngestResult,
    activities_record,
    activity_ingest_batch,
    activity_record,
    activity_record_announced,
    source_of,
)
from apps.analytics.services.rfm import rfm_score_members
from apps.analytics.services.rollups import RollupResult, rollup_days, rollup_run

__all__ = [
    "IngestResult",
    "RollupResult",
    "activities_record",
    "activity_ingest_batch",
    "activity_record",
    "activity_record_announced",
    "rfm_score_members",
    "rollup_days",
    "rollup_run",
    "source_of",
]
