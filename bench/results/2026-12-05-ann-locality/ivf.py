"""faiss IVF (flat lists) on a model's vectors: recall@10 against the share of the vocabulary scanned.

    python ivf.py TABLE > ivf-wiki17m.log

10,000 query words (seed 1), top 11 with the word itself dropped; the time
is one batch on 2 threads against the fastest of two brute-force batches.
"scanned" is the share of the vocabulary in the lists a query probes: what
a search that scored those lists with matrix products would compute.
"""

import sys
import time

import faiss
import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import recall_at_k

vec = Vectors.from_table(sys.argv[1], "sgns")
unit = np.ascontiguousarray(vec.unit(), dtype=np.float32)
V, d = unit.shape
rows = np.sort(np.random.default_rng(1).choice(V, size=10000, replace=False))
q = np.ascontiguousarray(unit[rows])
brute = float("inf")
for _ in range(2):
    t = time.perf_counter()
    exact, _ = exact_neighbors(unit, rows, 10)
    brute = min(brute, time.perf_counter() - t)
print(V, d, "brute force", round(brute, 3), flush=True)
faiss.omp_set_num_threads(2)
for nlist in [256, 1024, 4096]:
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    t = time.perf_counter()
    ivf.train(unit)
    ivf.add(unit)
    build = time.perf_counter() - t
    sizes = np.array([ivf.invlists.list_size(i) for i in range(nlist)])
    for nprobe in [1, 2, 4, 8, 16, 32, 64, 128]:
        if nprobe > nlist // 2:
            break
        ivf.nprobe = nprobe
        t = time.perf_counter()
        _, found = ivf.search(q, 11)
        secs = time.perf_counter() - t
        others = np.argsort(found == rows[:, None], axis=1, kind="stable")[:, :10]
        kept = np.take_along_axis(found, others, axis=1)
        _, probes = quantizer.search(q, nprobe)
        scanned = sizes[probes].sum() / (len(rows) * V)
        print(
            f"nlist {nlist} build {build:.1f}s nprobe {nprobe}: recall {recall_at_k(exact, kept):.4f} "
            f"scanned {scanned:.4f} faiss {secs:.3f}s ({brute / secs:.1f}x)",
            flush=True,
        )
