"""spark-submit entry point for the embed stage.

    spark-submit jobs/embed.py CONF [--set section.key=value ...] [--method mean|tfidf|sif]

Parses the arguments, loads and validates the config, gets the session and
calls the library's embed stage: the same code path as `embedpipe embed CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["embed", *sys.argv[1:]]))
