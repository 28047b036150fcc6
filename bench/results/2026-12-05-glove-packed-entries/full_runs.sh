#!/bin/bash
# GloVe on wiki17m's table, conf/wiki17m.yaml's 20 epochs: 2 replicas (auto: averaging), then 8 (auto: rotation, per_epoch).
cd /work/main
for p in 2 8; do
  echo "=== $p replicas $(date -u +%H:%M:%S) $(git rev-parse --short HEAD)"
  .venv/bin/embedpipe run conf/wiki17m.yaml --set output.path=/work/benchout/w17 --set spark.partitions=$p \
    --set 'stages=[glove,evaluate]' --set 'eval.models=[glove]' --force --json 2>&1 \
    | grep --line-buffered -E "INFO glove epoch|stage .*: done|^\{|glove .*analogy|wordsim|simlex|google"
done
