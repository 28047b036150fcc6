#!/bin/bash
# GloVe averaging on wiki17m's co-occurrence table, 2 epochs: old code (rows) vs new (packed), interleaved.
cd /work/main
for pair in 1 2; do
  for code in old new; do
    if [ $code = old ]; then dir=/work/wt_old; else dir=/work/main; fi
    echo "=== $code $pair $(date -u +%H:%M:%S)"
    (cd $dir && PYTHONPATH=$dir /work/main/.venv/bin/embedpipe glove /work/main/conf/wiki17m.yaml \
      --set output.path=/work/benchout/w17 --set glove.epochs=2 --force -v) 2>&1 \
      | grep -E "round timing|epoch .* round|stage glove: done|^\{" 
  done
done
