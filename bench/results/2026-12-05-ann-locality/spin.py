"""Why a search right after brute force is slow: the caches, or brute force's threads still spinning?

    python spin.py TABLE > spin-wiki17m.log

Five rounds; in each, brute force (``exact_neighbors``, 10,000 words, seed 1)
runs before each of three searches of the same words through the index:
started at once; started after reading the graph's vectors and links once
from end to end (one read per 64-byte line), which puts them back in the
caches; started after 0.5 s of sleep, which lets OpenBLAS's threads stop
spinning. Then the search repeated at once ("warm"). Medians.
"""

import sys
import time

import faiss
import numpy as np

from embedpipe import Vectors
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors.ann import AnnIndex

vec = Vectors.from_table(sys.argv[1], "sgns")
unit = vec.unit()
rows = np.sort(np.random.default_rng(1).choice(len(unit), size=10000, replace=False))
index = AnnIndex.build(unit)
flat = faiss.downcast_index(index._index.storage)
vectors = faiss.rev_swig_ptr(flat.codes.data(), flat.codes.size()).view(np.float32)
links = faiss.rev_swig_ptr(index._index.hnsw.neighbors.data(), index._index.hnsw.neighbors.size())


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def search():
    index.search_rows(rows, 10)


readings = {"brute force": [], "at once": [], "after reading the graph": [], "after 0.5 s sleep": [], "warm": []}
for _ in range(5):
    readings["brute force"].append(timed(lambda: exact_neighbors(unit, rows, 10)))
    readings["at once"].append(timed(search))
    exact_neighbors(unit, rows, 10)
    readings["after reading the graph"].append(timed(lambda: (vectors[::16].sum(), links[::16].sum(), search())))
    exact_neighbors(unit, rows, 10)
    time.sleep(0.5)
    readings["after 0.5 s sleep"].append(timed(search))
    readings["warm"].append(timed(search))
brute = np.median(readings.pop("brute force"))
print(f"{len(unit)} words, ef_search {index.ef_search}; brute force {brute:.3f} s (median)")
for name, secs in readings.items():
    print(f"search {name:24s} {np.median(secs):.4f} s  ({brute / np.median(secs):.1f}x brute force)")
