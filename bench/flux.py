#!/usr/bin/env python3
"""Flux benchmark: a cold `clobbercheck check` of the 20,000-object monorepo of
bench/gen_monorepo.py with a Flux layout of 200 Kustomizations (one per app folder, each with
targetNamespace and a post-build substitution, all reading one GitRepository of this
repository), beside the same repository without Flux objects (bench/core.py's figure), measured
in the same run.

Prints, per variant, the median wall and CPU time of `check --base HEAD~1 --head HEAD` (each run
a fresh process) and the objects seen, then the difference.

usage: python3 bench/flux.py [--runs N] [--kustomizations N]
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, cwd):
    """Runs cmd; returns (wall seconds, CPU seconds (user + system), stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, env=dict(os.environ, NO_COLOR="1"))
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        sys.exit(f"check failed with status {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return elapsed, cpu, proc.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kustomizations", type=int, default=200)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "clobbercheck")
    work = tempfile.mkdtemp(prefix="clobbercheck-flux-bench-")
    cmd = [binary, "check", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"]
    try:
        results = {}
        for name, extra in (("plain (bench/core.py)", []),
                            (f"with {args.kustomizations} Flux Kustomizations",
                             ["--flux-kustomizations", str(args.kustomizations)])):
            repo = os.path.join(work, "flux" if extra else "plain")
            subprocess.run([sys.executable, os.path.join(HERE, "gen_monorepo.py"), repo, *extra],
                           check=True)
            times, cpus = [], []
            for _ in range(args.runs):
                elapsed, cpu, out = run(cmd, repo)
                times.append(elapsed)
                cpus.append(cpu)
            summary = json.loads(out)["summary"]
            objects = sum(summary[k] for k in ("added", "modified", "deleted", "unchanged"))
            results[name] = (statistics.median(times), statistics.median(cpus))
            print(f"{name}: {objects} objects; check wall median {statistics.median(times):.3f} s "
                  f"(min {min(times):.3f} s), CPU median {statistics.median(cpus):.3f} s over "
                  f"{args.runs} cold runs; summary {summary}")
        (plain_wall, plain_cpu), (flux_wall, flux_cpu) = results.values()
        print(f"Flux layout: wall {(flux_wall / plain_wall - 1) * 100:+.1f} %, "
              f"CPU {(flux_cpu / plain_cpu - 1) * 100:+.1f} % beside the plain check "
              f"(load average {os.getloadavg()[0]:.2f})")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
