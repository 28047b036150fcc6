"""Each Spark job of a run's event log: start, the gap before it, its duration, where it was called.

    python event_jobs.py EVDIR   # EVDIR/<app>/events_1.json: the decompressed (zstd -d) event log
"""

from __future__ import annotations

import glob
import json
import sys


def main() -> None:
    jobs: dict[int, dict] = {}
    ran_stages: set[int] = set()
    t0 = 0
    for name in sorted(glob.glob(sys.argv[1] + "/*/events_1.json")):
        with open(name, encoding="utf-8") as fh:
            for line in fh:
                e = json.loads(line)
                kind = e["Event"]
                if kind == "SparkListenerApplicationStart":
                    t0 = e["Timestamp"]
                elif kind == "SparkListenerJobStart":
                    props = e.get("Properties", {})
                    site = props.get("callSite.short") or props.get("spark.job.description") or ""
                    jobs[e["Job ID"]] = {"start": e["Submission Time"], "site": site, "stages": e["Stage IDs"]}
                elif kind == "SparkListenerJobEnd":
                    jobs[e["Job ID"]]["end"] = e["Completion Time"]
                elif kind == "SparkListenerStageCompleted" and e["Stage Info"].get("Submission Time"):
                    ran_stages.add(e["Stage Info"]["Stage ID"])
    previous = t0
    for job, d in sorted(jobs.items()):
        ran = sum(s in ran_stages for s in d["stages"])
        print(f"job {job:3d} +{(d['start'] - t0) / 1000:6.2f}s gap {(d['start'] - previous) / 1000:5.2f} "
              f"dur {(d['end'] - d['start']) / 1000:6.2f}  stages run {ran}/{len(d['stages'])}  {d['site'][:90]}")
        previous = d["end"]


if __name__ == "__main__":
    main()
