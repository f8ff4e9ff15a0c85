#!/usr/bin/env python3
"""Core benchmark: cold `clobbercheck check` of synthetic monorepos, as a whole process.

For each size (objects; 50 per app, 20 apps per cluster) it generates the repository
(bench/gen_monorepo.py: base, and a head that changes one file and adds one app), then runs
`check --base HEAD~1 --head HEAD` several times, each a fresh process, and prints in one table,
from one run:

- clobbercheck: median wall time, CPU time (user + system), peak memory (max RSS);
- the PyYAML reference (bench/pyyaml_check.py: the same identity classification in Python with
  libyaml's CSafeLoader), when PyYAML is installed, and clobbercheck's speed-up over it;
- the I/O floor: listing both trees and reading each of their distinct blobs once with git's own
  C code (`git ls-tree -r` + `git cat-file --batch`), below which no checker of these files can go;
- with --callgrind, the instruction count of one cold check (valgrind --tool=callgrind), which
  does not move with the machine's load, so regressions show even on a busy machine.

The load average is printed beside the figures: other work on the machine slows wall times.

`--format markdown` times the review every human-facing format builds (owners and blast radius
included); `--binary PATH` times another build (e.g. main's) on the same repository.

usage: python3 bench/core.py [--sizes 2000,20000,200000] [--runs N] [--callgrind] [--format F]
                             [--binary PATH]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def measure(cmd, cwd, shell=False):
    """Runs cmd; returns (wall seconds, CPU seconds, max RSS in MiB, exit status, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, shell=shell, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out = proc.stdout.read()
    proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), out


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def generate(repo, objects):
    apps_total = -(-objects // 50)
    clusters, apps = (apps_total // 20, 20) if apps_total >= 20 else (1, apps_total)
    subprocess.run([sys.executable, os.path.join(HERE, "gen_monorepo.py"), repo,
                    "--clusters", str(clusters), "--apps", str(apps)], check=True,
                   stdout=subprocess.DEVNULL)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(repo)
               if ".git" not in d for f in fs if f.endswith(".yaml"))


def instructions(cmd, cwd):
    """Instructions of one run of cmd under callgrind (every thread counted)."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
                         cwd=cwd, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    return int(found.group(1)) if found else None


def bench_size(binary, objects, runs, callgrind, fmt):
    work = tempfile.mkdtemp(prefix="clobbercheck-bench-")
    repo = os.path.join(work, "repo")
    try:
        size = generate(repo, objects)
        cmd = [binary, "check", "--base", "HEAD~1", "--head", "HEAD", "--format", fmt]
        walls, cpus, peaks = [], [], []
        for _ in range(runs):
            wall, cpu, rss, code, out = measure(cmd, repo)
            if code not in (0, 1):
                sys.exit(f"check failed with status {code}")
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(rss)
        summary = json.loads(out)["summary"]
        counted = sum(summary[k] for k in ("added", "modified", "deleted", "unchanged"))
        # `git ls-tree` takes one tree and then path filters, so each side is listed on its own.
        floor = ("{ git ls-tree -r --object-only HEAD~1; git ls-tree -r --object-only HEAD; } "
                 "| sort -u | git cat-file --batch > /dev/null")
        floors = [measure(floor, repo, shell=True)[0] for _ in range(runs)]
        row = {
            "objects": counted, "mb": size / 1e6,
            "wall": statistics.median(walls), "cpu": statistics.median(cpus), "peak": max(peaks),
            "floor": statistics.median(floors), "ref": None, "ref_peak": None, "instr": None,
        }
        try:
            import yaml  # noqa: F401
            wall, _, rss, code, _ = measure(
                [sys.executable, os.path.join(HERE, "pyyaml_check.py"), repo, "HEAD~1", "HEAD"],
                repo)
            if code == 0:
                row["ref"], row["ref_peak"] = wall, rss
        except ImportError:
            pass
        if callgrind:
            row["instr"] = instructions(cmd, repo)
        return row
    finally:
        shutil.rmtree(work)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2000,20000",
                        help="comma-separated object counts (200000 takes a few minutes)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--format", default="json",
                        choices=["json", "markdown", "text", "sarif", "html"])
    parser.add_argument("--binary", help="time this build instead of target/release")
    parser.add_argument("--callgrind", action="store_true",
                        help="also count instructions of one cold check (slow: ~50x)")
    args = parser.parse_args()
    if args.binary:
        binary = os.path.abspath(args.binary)
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "clobbercheck")
    before = load()
    rows = [bench_size(binary, int(n), args.runs, args.callgrind, args.format) for n in args.sizes.split(",")]
    print(f"cold `clobbercheck check --base HEAD~1 --head HEAD`, fresh process, median of "
          f"{args.runs}; head changes one file and adds one app")
    print(f"load average before {before}, after {load()} (1, 5, 15 min)")
    print("| objects | YAML MB | clobbercheck wall | CPU | peak MiB | PyYAML wall | peak MiB "
          "| speed-up | I/O floor | instructions |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ref = f"{r['ref']:.2f} s | {r['ref_peak']:.0f}" if r["ref"] else "— | —"
        speedup = f"{r['ref'] / r['wall']:.1f}×" if r["ref"] else "—"
        instr = f"{r['instr'] / 1e9:.2f} G" if r["instr"] else "—"
        print(f"| {r['objects']:,} | {r['mb']:.1f} | {r['wall']:.3f} s | {r['cpu']:.3f} s "
              f"| {r['peak']:.0f} | {ref} | {speedup} | {r['floor']:.3f} s | {instr} |")
    if not any(r["ref"] for r in rows):
        print("PyYAML reference: skipped (PyYAML not installed: pip install pyyaml)")


if __name__ == "__main__":
    main()
