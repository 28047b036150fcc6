#!/bin/bash
# GloVe averaging on the demo sample's co-occurrence table (conf/demo.yaml, 15 epochs): old code (rows) vs new (packed), interleaved.
for pair in 1 2; do
  for code in old new; do
    if [ $code = old ]; then dir=/work/wt_old; else dir=/work/main; fi
    echo "=== $code $pair $(date -u +%H:%M:%S)"
    (cd $dir && PYTHONPATH=$dir /work/main/.venv/bin/embedpipe glove /work/main/conf/demo.yaml \
      --set output.path=/work/benchout/g1 --force -v) 2>&1 \
      | grep -E "round timing|epoch .* round|stage glove: done|^\{"
  done
done
