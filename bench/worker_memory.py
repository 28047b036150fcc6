"""Peak memory of the Python tasks of one stage, against the stage's memory budget.

    python -m bench.worker_memory --conf CONF --stage cooccur --out DIR [--set KEY=VALUE ...]

Runs ``embedpipe run CONF --set stages=[STAGE] --force`` from a fresh
process (the stage reads the tables a previous run left under
``output.path``) and, every ``--interval`` seconds while it runs, reads
``/proc`` for every process under it. PySpark's tasks run in Python worker
processes forked from one ``pyspark.daemon``; a worker is reused by later
tasks, so its peak resident set (``VmHWM``, kept by the kernel between
samples) bounds the peak of every task it ran. The report gives each
worker's peak, the daemon's resident set (what a worker holds before it
runs anything: the interpreter, numpy, pyarrow, pyspark), the JVM's peak,
and the stage's budget (``cooccur.memory_mb``). Linux only.

Writes ``DIR/worker_memory.json`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB ({} once it has gone)."""
    got: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    got[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    return got


def _children() -> dict[int, int]:
    """pid -> parent pid of every process."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                # the command may hold spaces and parentheses: the fields after its last ')' are fixed
                fields = fh.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return parents


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


class Sampler(threading.Thread):
    """Peak VmHWM of every process under ``root``, by role, until stopped."""

    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.stop = threading.Event()
        self.roles: dict[int, str] = {}
        self.peak_kb: dict[int, int] = {}
        self.first_rss_kb: dict[int, int] = {}

    def _role(self, pid: int, parents: dict[int, int]) -> str:
        if pid not in self.roles:
            cmd = _cmdline(pid)
            if pid == self.root:
                role = "driver"
            elif "java" in cmd.split(" ", 1)[0]:
                role = "jvm"
            elif "pyspark.daemon" in cmd:
                # The daemon and its forks share a command line; a fork's parent is the daemon.
                parent = parents.get(pid, 0)
                role = "worker" if parent != pid and self._role(parent, parents) in ("daemon", "worker") else "daemon"
            else:
                # Not cached: Spark's launch scripts exec into the JVM under
                # the same pid, so a script seen early is the JVM later.
                return "other"
            self.roles[pid] = role
        return self.roles[pid]

    def run(self) -> None:
        while not self.stop.is_set():
            parents = _children()
            under = {self.root}
            grew = True
            while grew:
                new = {p for p, pp in parents.items() if pp in under and p not in under}
                grew = bool(new)
                under |= new
            for pid in under:
                st = _status(pid)
                if not st:
                    continue
                self._role(pid, parents)
                self.first_rss_kb.setdefault(pid, st.get("VmRSS", 0))
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), st.get("VmHWM", 0))
            self.stop.wait(self.interval)

    def report(self) -> dict[str, Any]:
        def mb(kb: int) -> float:
            return round(kb / 1024, 1)

        def peak(role: str) -> float:
            return mb(max((self.peak_kb.get(p, 0) for p, r in self.roles.items() if r == role), default=0))

        workers = sorted((p for p, r in self.roles.items() if r == "worker"), key=lambda p: -self.peak_kb.get(p, 0))
        return {
            "workers": [
                {"pid": p, "peak_mb": mb(self.peak_kb.get(p, 0)), "first_seen_rss_mb": mb(self.first_rss_kb.get(p, 0))}
                for p in workers
            ],
            "worker_peak_mb": mb(max((self.peak_kb.get(p, 0) for p in workers), default=0)),
            "daemon_rss_mb": peak("daemon"),
            "jvm_peak_mb": peak("jvm"),
            "driver_peak_mb": mb(self.peak_kb.get(self.root, 0)),
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--conf", type=Path, required=True, help="the run's config (its output.path holds the inputs)")
    ap.add_argument("--stage", default="cooccur", help="the one stage to run and watch (default cooccur)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override (repeatable)")
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between samples (default 0.05)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if not Path("/proc/self/status").exists():
        raise SystemExit("bench.worker_memory reads /proc: Linux only")
    args.out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "embedpipe.cli", "run", str(args.conf), "--set", f"stages=[{args.stage}]",
           "--force", "--json", "-q"]  # fmt: skip
    for item in args.set:
        cmd += ["--set", item]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    sampler = Sampler(proc.pid, args.interval)
    sampler.start()
    out, err = proc.communicate()
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.stderr.write(err[-4000:])
        raise SystemExit(f"bench.worker_memory: the run failed (exit {proc.returncode})")
    summary = json.loads(out)
    stage = next(s for s in summary["stages"] if s["stage"] == args.stage)
    result = {
        "command": " ".join(["python -m bench.worker_memory", *(argv if argv is not None else sys.argv[1:])]),
        "cores": os.cpu_count(),
        "stage": args.stage,
        "stage_seconds": stage.get("seconds"),
        "stage_stats": stage.get("stats", {}),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        **sampler.report(),
    }
    (args.out / "worker_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
