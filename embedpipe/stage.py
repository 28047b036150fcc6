"""What every stage returns, run ids, and fingerprints of what a stage read."""

from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageResult:
    """Summary of one stage run (printed and stored in the run summary)."""

    stage: str
    run_id: str
    seconds: float
    rows: int = 0
    # How much the stage processed, in ``unit``s (words, entries, questions);
    # unit "" = no rate fits the stage (e.g. export).
    work: int = 0
    unit: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False

    @property
    def rate(self) -> float | None:
        """``unit``s per second, or None when no rate fits the stage."""
        if not self.unit or self.seconds <= 0:
            return None
        return self.work / self.seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "run_id": self.run_id,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
            "work": self.work,
            "unit": self.unit,
            "rate": None if self.rate is None else round(self.rate, 1),
            "skipped": self.skipped,
            "stats": self.stats,
        }


def new_run_id() -> str:
    """Sortable, unique id: UTC time plus 4 random hex digits."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(2)}"


def fingerprint(*parts: Any) -> str:
    """Short stable hash of config sections and input table versions."""
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]
