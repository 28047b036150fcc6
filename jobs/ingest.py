"""spark-submit entry point for the ingest stage.

    spark-submit jobs/ingest.py CONF [--set section.key=value ...]

Parses the arguments, loads and validates the config, gets the session and
calls the library's ingest stage: the same code path as `embedpipe ingest CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
