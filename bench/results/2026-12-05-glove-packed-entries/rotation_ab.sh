#!/bin/bash
# GloVe under rotation (per_epoch): old code (cells cut from the table's rows every epoch) vs new (from entries packed once), interleaved.
# $1 = conf, $2 = output path, $3 = partitions, $4 = epochs
for pair in 1 2; do
  for code in old new; do
    if [ $code = old ]; then dir=/work/wt_old; else dir=/work/main; fi
    echo "=== $code $pair $(date -u +%H:%M:%S)"
    (cd $dir && PYTHONPATH=$dir /work/main/.venv/bin/embedpipe glove $1 \
      --set output.path=$2 --set spark.partitions=$3 --set glove.epochs=$4 --set glove.distribution=rotation --force -v) 2>&1 \
      | grep --line-buffered -E "epoch .* round|sub-epoch|stage glove: done|^\{"
  done
done
