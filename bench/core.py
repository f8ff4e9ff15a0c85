#!/usr/bin/env python3
"""Core benchmark: cold `clobbercheck check` of a 20,000-object monorepo, as a whole process.

Builds the release binary, generates the repository (bench/gen_monorepo.py), then runs
`check --base HEAD~1 --head HEAD` several times, each a fresh process, and prints wall time and
peak memory (max RSS); beside it, the same classification in Python + PyYAML (libyaml) when
PyYAML is installed.

`--format markdown` times the review every human-facing format builds (owners and blast radius
included); `--binary PATH` times another build (e.g. main's) on the same repository.

usage: python3 bench/core.py [--runs N] [--clusters N] [--apps N] [--format F] [--binary PATH]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

def measure(cmd, cwd):
    """Runs cmd; returns (seconds, max RSS in MiB, exit status, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), out

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--format", default="json",
                        choices=["json", "markdown", "text", "sarif", "html"])
    parser.add_argument("--binary")
    args = parser.parse_args()
    binary = args.binary
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "clobbercheck")
    work = tempfile.mkdtemp(prefix="clobbercheck-bench-")
    repo = os.path.join(work, "repo")
    try:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_monorepo.py"), repo,
                        "--clusters", str(args.clusters), "--apps", str(args.apps)], check=True)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(repo)
                   if ".git" not in d for f in fs if f.endswith(".yaml"))
        cmd = [binary, "check", "--base", "HEAD~1", "--head", "HEAD", "--format", args.format]
        times, peaks = [], []
        for _ in range(args.runs):
            elapsed, rss, code, out = measure(cmd, repo)
            if code not in (0, 1):
                sys.exit(f"check failed with status {code}")
            times.append(elapsed)
            peaks.append(rss)
        import json
        if args.format != "json":
            out = subprocess.run(cmd[:-1] + ["json"], cwd=repo, capture_output=True).stdout
        summary = json.loads(out)["summary"]
        objects = sum(summary[k] for k in ("added", "modified", "deleted", "unchanged"))
        print(f"repository: {objects} objects, {size / 1e6:.1f} MB of YAML; "
              f"head changes one file and adds one app")
        print(f"clobbercheck check --format {args.format} (cold process, {args.runs} runs): "
              f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, "
              f"peak RSS {max(peaks):.0f} MiB; summary {summary}")
        try:
            import yaml  # noqa: F401
            elapsed, rss, code, out = measure(
                [sys.executable, os.path.join(HERE, "pyyaml_check.py"), repo, "HEAD~1", "HEAD"], repo)
            print(f"python + PyYAML (libyaml) reference: {elapsed:.3f} s, peak RSS {rss:.0f} MiB; "
                  f"{out.decode().strip()}")
            print(f"speed-up: {elapsed / statistics.median(times):.1f}x")
        except ImportError:
            print("python + PyYAML reference: skipped (PyYAML not installed: pip install pyyaml)")
    finally:
        shutil.rmtree(work)

if __name__ == "__main__":
    main()
