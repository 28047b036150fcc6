#!/bin/bash
cd /work/main
for seed in 1 2; do
  for pcd in "8 1 rotation" "1 2 averaging"; do
    set -- $pcd
    tag=glove_s${seed}_p$1_$( [ $1 = 8 ] && echo perepoch || echo avg )
    .venv/bin/embedpipe run /work/wm/mem.yaml --set spark.partitions=$1 --set spark.task_cpus=$2 --set glove.distribution=$3 \
      --set glove.block_assignment=per_epoch --set glove.seed=$seed --set 'eval.models=[glove]' --set 'stages=[glove,evaluate]' \
      --force --json > /work/wm/$tag.json 2> /work/wm/$tag.log
  done
done
