#!/bin/bash
# Demo GloVe and skip-gram stages, each checkpoint interval in turn, on the demo run's tables.
cd /work/main
for rep in 1 2; do
  for model in glove sgns; do
    for secs in 0 60; do
      line=$(.venv/bin/embedpipe $model conf/demo.yaml --set output.path=/work/benchout/demo --set output.checkpoint_seconds=$secs --force 2>&1 | grep "stage $model: done in")
      echo "rep $rep $model checkpoint_seconds=$secs: $line"
    done
  done
done
