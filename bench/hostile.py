#!/usr/bin/env python3
"""Hostile inputs benchmark: time and peak memory of `clobbercheck check` on each hostile input.

Generates every input in a temporary folder, then runs the release binary once per case, as a
fresh process, and prints wall time, peak RSS (the child's own rusage, wait4) and what the check
said. Each run is spawned by a fresh small Python (Linux carries the spawner's resident size
into the child across exec); that spawner's size is printed as the floor no figure can go below.

usage: python3 bench/hostile.py [--skip-gib]   (--skip-gib leaves out the two 1 GiB cases)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GIB = 1 << 30


# Runs in a fresh small Python so that no report parsed here inflates the figures: Linux
# carries the spawner's resident size into the child across exec.
SPAWNER = """
import json, os, subprocess, sys, time
cmd, cwd, out = json.loads(sys.argv[1])
with open(out, "wb") as sink:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=sink, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
print(json.dumps([time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)]))
"""


def measure(cmd, cwd, out):
    """Runs cmd with stdout to the file out; returns (seconds, peak RSS in MiB, exit status)."""
    done = subprocess.run([sys.executable, "-c", SPAWNER, json.dumps([cmd, cwd, out])],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def configmap(name, data=""):
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: app\ndata:\n  a: '1'\n{data}"


def git(cwd, *args, **kw):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, **kw)


def new_repo(path):
    os.makedirs(path)
    git(path, "init", "-q", ".")
    git(path, "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-q", "--allow-empty", "-m", "empty")
    return path


def commit_all(path):
    git(path, "add", "-A")
    git(path, "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-q", "-m", "head")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-gib", action="store_true")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "clobbercheck")
    work = tempfile.mkdtemp(prefix="clobbercheck-hostile-")
    empty = os.path.join(work, "empty")
    os.makedirs(empty)
    raised = os.path.join(work, "raised.yml")
    with open(raised, "w") as f:
        f.write("max_file_size: 209715200\n")
    cases = []
    try:
        # A 100 MB file: 40,000 ConfigMaps of 2.5 KB, read with max_file_size raised to 200 MiB.
        d = os.path.join(work, "big-file")
        os.makedirs(d)
        filler = "".join(f"  k{j}: '{'x' * 100}'\n" for j in range(24))
        with open(os.path.join(d, "big.yaml"), "w") as f:
            for i in range(40_000):
                f.write("---\n" + configmap(f"cm-{i}", filler))
        cases.append(("100 MB file, 40,000 objects (max_file_size raised)", d, ["--config", raised]))
        # The same file at the default limit: a finding, not read.
        cases.append(("100 MB file at the default 32 MiB limit", d, []))
        # 100,000 tiny documents in one file.
        d = os.path.join(work, "many-docs")
        os.makedirs(d)
        with open(os.path.join(d, "many.yaml"), "w") as f:
            for i in range(100_000):
                f.write("---\n" + configmap(f"cm-{i}"))
        cases.append(("100,000 documents in one file", d, []))
        # 100,000 files, as a directory and as a git commit (one fast-import pack).
        d = os.path.join(work, "many-files")
        for i in range(100_000):
            sub = os.path.join(d, "apps", str(i % 100))
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, f"cm-{i}.yaml"), "w") as f:
                f.write(configmap(f"cm-{i}"))
        cases.append(("100,000 files (directory)", d, []))
        repo = new_repo(os.path.join(work, "many-files-git"))
        imp = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE)
        imp.stdin.write(b"commit refs/heads/big\ncommitter T <t@e> 0 +0000\ndata 0\nfrom HEAD\n")
        for i in range(100_000):
            text = configmap(f"cm-{i}").encode()
            imp.stdin.write(b"M 100644 inline apps/%d/cm-%d.yaml\ndata %d\n%s\n" % (i % 100, i, len(text), text))
        imp.stdin.close()
        if imp.wait() != 0:
            sys.exit("git fast-import failed")
        cases.append(("100,000 files (git commit)", repo, ["git:HEAD..big"]))
        # Alias bomb and 10,000-level nesting.
        d = os.path.join(work, "bombs")
        os.makedirs(d)
        with open(os.path.join(d, "bomb.yaml"), "w") as f:
            f.write("a: &a [" + ",".join(["lol"] * 10) + "]\n")
            for prev, name in zip("abcdefgh", "bcdefghi"):
                f.write(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]\n")
        with open(os.path.join(d, "deep.yaml"), "w") as f:
            f.write("[" * 10_000 + "]" * 10_000 + "\n")
        with open(os.path.join(d, "deep-block.yaml"), "w") as f:
            f.write("- " * 10_000 + "a\n")
        cases.append(("alias bomb (10^9 nodes) + 10,000-level nesting", d, []))
        if not args.skip_gib:
            d = new_repo(os.path.join(work, "gib"))
            with open(os.path.join(d, "huge.yaml"), "wb") as f:
                f.truncate(GIB)
            cases.append(("1 GiB file (directory, sparse)", d, []))
            commit_all_start = time.perf_counter()
            git(d, "-c", "core.compression=1", "-c", "pack.compression=1", "add", "huge.yaml")
            git(d, "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-q", "-m", "huge")
            print(f"(git add of the 1 GiB file took {time.perf_counter() - commit_all_start:.1f} s)")
            cases.append(("1 GiB blob (git)", d, ["git:HEAD~1..HEAD"]))
        floor = measure(["true"], work, os.devnull)[1]
        print(f"binary: {binary}")
        print(f"measurement floor (peak RSS of `true` spawned the same way): {floor:.0f} MiB")
        print(f"{'case':<52} {'exit':>4} {'time':>8} {'peak RSS':>9}  result")
        for label, path, extra in cases:
            if extra and extra[0].startswith("git:"):
                base, head = extra[0][4:].split("..")
                cmd = [binary, "check", "--base", base, "--head", head, "--format", "json"]
                cwd = path
            else:
                cmd = [binary, "check", "--base", empty, "--head", path, "--format", "json", *extra]
                cwd = path
            report_path = os.path.join(work, "report.json")
            elapsed, rss, code = measure(cmd, cwd, report_path)
            try:
                with open(report_path) as f:
                    report = json.load(f)
                s = report["summary"]
                rules = sorted({f["rule"] for f in report["findings"]})
                result = f"{s['added']} added, {s['errors']} error(s) {','.join(rules)}"
            except ValueError:
                result = "no JSON report"
            print(f"{label:<52} {code:>4} {elapsed:>7.2f}s {rss:>6.0f} MiB  {result}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
