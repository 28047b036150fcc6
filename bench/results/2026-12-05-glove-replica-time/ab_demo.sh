#!/usr/bin/env bash
# The demo's GloVe stage, the code before this report's two changes (OLD) and
# after (HEAD), interleaved old, new, old, new, under averaging (the demo's
# 2 replicas) and under rotation (4 blocks), 15 epochs (conf/demo.yaml).
#   bash ab_demo.sh DIR OLD OUT   # DIR: output.path of a demo run; OLD: a commit
# The old code is checked out over embedpipe/ for its runs (the editable
# install reads the work tree) and HEAD's put back after each.
set -euo pipefail
dir=$1 old=$2 out=$3
cd "$(dirname "$0")/../../.."
mkdir -p "$out"
trap 'git checkout -q HEAD -- embedpipe' EXIT
for setting in averaging rotation; do
  extra=()
  [ "$setting" = rotation ] && extra=(--set spark.partitions=4 --set glove.distribution=rotation)
  for rep in 1 2; do
    for code in old new; do
      if [ $code = old ]; then git checkout -q "$old" -- embedpipe; else git checkout -q HEAD -- embedpipe; fi
      .venv/bin/embedpipe run conf/demo.yaml --set output.path="$dir" --set 'stages=[glove]' "${extra[@]}" \
        --force --json > "$out/$setting-$code-$rep.json" 2> "$out/$setting-$code-$rep.log"
      python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['stages'][0]; print(sys.argv[2], s['seconds'], s['stats']['spark_jobs'], repr(s['stats']['costs'][-1]))" \
        "$out/$setting-$code-$rep.json" "$setting $code $rep"
    done
  done
done
