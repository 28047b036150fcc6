#!/usr/bin/env bash
# Issue 25's GloVe time bar: the glove stage at 8 replicas (rotation, the
# default per_epoch blocks) against 2 replicas (averaging), 20 epochs each
# (conf/wiki17m.yaml), one after the other on one co-occurrence table.
#   bash run.sh DIR OUT   # DIR: output.path of a wiki17m run with its cooccurrence table
set -euo pipefail
dir=$1 out=$2
cd "$(dirname "$0")/../../.."
mkdir -p "$out"
for p in 2 8; do
  date -u +"%H:%M:%S start $p replicas"
  .venv/bin/embedpipe run conf/wiki17m.yaml --set output.path="$dir" --set spark.partitions=$p \
    --set 'stages=[glove,evaluate]' --set 'eval.models=[glove]' --force --json > "$out/replicas-$p.json"
  date -u +"%H:%M:%S end $p replicas"
done
