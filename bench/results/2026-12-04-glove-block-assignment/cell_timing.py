"""Same process, same table: GloVe under rotation at 8 blocks, 2 epochs, three ways.

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/python cell_timing.py OUT.json

CONF (/work/wm/mem.yaml on the day) is the wiki17m config whose output
path holds the co-occurrence table of report.md.
"""

import functools
import json
import sys
import time

from embedpipe.config import load_config
from embedpipe.session import get_session
from embedpipe.training import glove

cfg0 = ["spark.partitions=8", "spark.task_cpus=1", "glove.distribution=rotation", "glove.epochs=2", "glove.seed=3"]
runs = [("per_batch cells, per_run", 0, "per_run"), ("4 MB cells, per_run", glove.CELL_BATCH_BYTES, "per_run"),
        ("4 MB cells, per_epoch", glove.CELL_BATCH_BYTES, "per_epoch"),
        ("per_batch cells, per_run (again)", 0, "per_run")]
spark = None
out = []
for name, nbytes, assignment in runs:
    cfg = load_config("/work/wm/mem.yaml", overrides=cfg0 + [f"glove.block_assignment={assignment}"])
    spark = spark or get_session(cfg.spark)
    orig = glove.CellsOfEntries
    glove.CellsOfEntries = functools.partial(orig, batch_bytes=nbytes)
    t = time.perf_counter()
    r = glove.run(spark, cfg)
    glove.CellsOfEntries = orig
    out.append({"run": name, "stage_s": round(time.perf_counter() - t, 1), "costs": r.stats["costs"]})
    print(json.dumps(out[-1]), flush=True)
json.dump(out, open(sys.argv[1], "w"), indent=1)
