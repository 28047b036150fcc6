"""spark-submit entry point for the sgns stage.

    spark-submit jobs/sgns.py CONF [--set section.key=value ...]

Parses the arguments, loads and validates the config, gets the session and
calls the library's sgns stage: the same code path as `embedpipe sgns CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["sgns", *sys.argv[1:]]))
