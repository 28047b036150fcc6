"""`bench.worker_memory` finds the Python workers under a run and their peak memory.

No Spark here: a stand-in driver starts a process named like PySpark's
daemon, which forks one worker that touches 200 MB; the sampler must see
the fork as a worker, with the 200 MB, and the daemon as the daemon.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from bench.worker_memory import Sampler

DAEMON = textwrap.dedent(
    """
    import os, sys, time
    pid = os.fork()
    if pid == 0:
        held = bytearray(200 * 2**20)
        for k in range(0, len(held), 4096):
            held[k] = 1
        time.sleep(1.0)
        os._exit(0)
    os.waitpid(pid, 0)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_forked_workers_peak_is_reported_apart_from_its_daemon():
    driver = textwrap.dedent(
        f"""
        import subprocess, sys
        subprocess.run([sys.executable, "-c", {DAEMON!r}, "pyspark.daemon"], check=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", driver])
    sampler = Sampler(proc.pid, interval=0.02)
    sampler.start()
    assert proc.wait(timeout=60) == 0
    sampler.stop.set()
    sampler.join()
    got = sampler.report()
    assert len(got["workers"]) == 1
    assert got["worker_peak_mb"] >= 200
    assert 0 < got["daemon_rss_mb"] < 150
    assert got["driver_peak_mb"] > 0 and got["jvm_peak_mb"] == 0
