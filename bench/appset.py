#!/usr/bin/env python3
"""ApplicationSet benchmark: a cold `clobbercheck check` of the 20,000-object monorepo of
bench/gen_monorepo.py with ApplicationSets generating 2,000 Applications (a fasttemplate matrix of
git directories x 4 stages = 1,600, and a goTemplate list of 400), beside the same repository
without ApplicationSets (bench/core.py's figure), measured in the same run.

Prints, per variant, the median wall time of `check --base HEAD~1 --head HEAD` (each run a fresh
process), and for the ApplicationSet variant the expansion time of each side as the binary logs
it (CLOBBERCHECK_LOG=clobbercheck::snapshot=debug). The PR adds one app folder, so the matrix
generates 4 new Applications in head.

usage: python3 bench/appset.py [--runs N] [--stages N]
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, cwd, env=None):
    """Runs cmd; returns (wall seconds, CPU seconds (user + system), stdout, stderr). CPU time
    is the steadier figure on a shared machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        sys.exit(f"check failed with status {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return elapsed, cpu, proc.stdout, proc.stderr.decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stages", type=int, default=4)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "clobbercheck")
    work = tempfile.mkdtemp(prefix="clobbercheck-appset-bench-")
    cmd = [binary, "check", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"]
    try:
        results = {}
        for name, extra in (("plain (bench/core.py)", []),
                            ("with ApplicationSets", ["--appset-stages", str(args.stages)])):
            repo = os.path.join(work, "plain" if not extra else "appsets")
            subprocess.run([sys.executable, os.path.join(HERE, "gen_monorepo.py"), repo, *extra],
                           check=True)
            env = dict(os.environ, CLOBBERCHECK_LOG="clobbercheck::snapshot=debug", NO_COLOR="1")
            times, cpus, expansions = [], [], []
            for _ in range(args.runs):
                elapsed, cpu, out, err = run(cmd, repo, env)
                times.append(elapsed)
                cpus.append(cpu)
                err = re.sub(r"\x1b\[[0-9;]*m", "", err)
                micros = [int(m) for m in re.findall(r"micros=(\d+)", err)]
                generated = [int(m) for m in re.findall(r"applications=(\d+)", err)]
                expansions.append((sum(micros) / 1e6, generated))
            report = json.loads(out)
            summary = report["summary"]
            objects = sum(summary[k] for k in ("added", "modified", "deleted", "unchanged"))
            results[name] = (statistics.median(times), statistics.median(cpus))
            line = (f"{name}: {objects} objects; check wall median {statistics.median(times):.3f} s "
                    f"(min {min(times):.3f} s), CPU median {statistics.median(cpus):.3f} s over "
                    f"{args.runs} cold runs; summary {summary}")
            if extra:
                seconds = statistics.median(e[0] for e in expansions)
                results["expansion"] = seconds
                line += (f"\n  expansion (base + head, wall): median {seconds * 1000:.1f} ms, "
                         f"Applications generated per side {expansions[-1][1]}")
            print(line)
        plain_wall, plain_cpu = results["plain (bench/core.py)"]
        sets_wall, sets_cpu = results["with ApplicationSets"]
        print(f"expansion alone: {results['expansion'] / plain_wall * 100:.1f} % of the plain "
              f"cold check's wall time")
        print(f"whole check with ApplicationSets (expansion + 2,000 more objects to classify): "
              f"wall {(sets_wall / plain_wall - 1) * 100:+.1f} %, "
              f"CPU {(sets_cpu / plain_cpu - 1) * 100:+.1f} %")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
