#!/bin/bash
# Demo GloVe and skip-gram stages under rotation (2 blocks), each checkpoint interval in turn, on the demo run's tables.
# Usage: bash ab.sh DEMO_TABLES   (output.path of `embedpipe run conf/demo.yaml`)
cd "$(dirname "$0")/../../.."
for rep in 1 2; do
  for model in glove sgns; do
    for secs in 0 60; do
      line=$(.venv/bin/embedpipe $model conf/demo.yaml --set output.path="$1" --set $model.distribution=rotation \
             --set output.checkpoint_seconds=$secs --force 2>&1 | grep "stage $model: done in")
      echo "rep $rep $model checkpoint_seconds=$secs: $line"
    done
  done
done
