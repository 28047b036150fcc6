"""Held-out p@1/@5 of seed 1 -> seed 2 on wiki17m for anchors drawn from wider frequency bands (no write)."""

import time

from embedpipe.align import align_vectors
from embedpipe.config import AlignConfig
from embedpipe.vectors.models import load_model, parse_ref

root = "/tmp/vecops_w17"
src = load_model(root, parse_ref("sgns@20261203T155056Z-ab1c"), None)
tgt = load_model(root, parse_ref("sgns"), None)
print("source run", src.run_id, "target run", tgt.run_id, len(src), len(tgt))
for anchors in (5000, 30000, 67873):
    t = time.perf_counter()
    al = align_vectors(src, tgt, AlignConfig(anchors=anchors, held_out=1000, moved=0))
    print(anchors, al.fit, al.held_out, al.candidates, al.precision, f"{time.perf_counter() - t:.1f} s")
