"""spark-submit entry point for the whole pipeline.

    spark-submit jobs/pipeline.py CONF [--set section.key=value ...] [--resume]

Runs the config's `stages` in order: the same code path as `embedpipe run CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
