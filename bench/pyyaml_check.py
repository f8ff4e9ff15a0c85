#!/usr/bin/env python3
"""Reference: the same identity classification as `clobbercheck check`, in Python with PyYAML's
libyaml loader (CSafeLoader). Reads both commits' blobs with one `git cat-file --batch`.

usage: pyyaml_check.py REPO BASE HEAD
"""
import subprocess
import sys
import threading

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CLUSTER_SCOPED = {("", "Namespace"), ("rbac.authorization.k8s.io", "ClusterRole")}

def tree(repo, rev):
    out = subprocess.run(["git", "ls-tree", "-r", "-z", rev], cwd=repo, check=True,
                         capture_output=True).stdout.decode()
    files = {}
    for entry in out.split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        _, kind, oid = meta.split()
        if kind == "blob" and path.endswith((".yaml", ".yml", ".json")):
            files[path] = oid
    return files

def read_blobs(repo, oids):
    proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=repo, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    # Written from a thread: git answers while it reads, so writing every request before
    # reading would fill both pipes and wait forever (it did at 200,000 objects).
    def feed():
        proc.stdin.write("".join(o + "\n" for o in oids).encode())
        proc.stdin.close()
    writer = threading.Thread(target=feed)
    writer.start()
    blobs = {}
    for oid in oids:
        header = proc.stdout.readline().split()
        size = int(header[2])
        blobs[oid] = proc.stdout.read(size)
        proc.stdout.read(1)
    writer.join()
    proc.wait()
    return blobs

def objects(files, blobs):
    out = {}
    for path, oid in sorted(files.items()):
        cluster = path.split("/")[1] if path.startswith("env/") else None
        for doc in yaml.load_all(blobs[oid], Loader=LOADER):
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                continue
            meta = doc.get("metadata") or {}
            if "name" not in meta:
                continue
            group = doc["apiVersion"].rsplit("/", 1)[0] if "/" in doc["apiVersion"] else ""
            ns = None if (group, doc["kind"]) in CLUSTER_SCOPED else meta.get("namespace", "default")
            out.setdefault((cluster, group, doc["kind"], ns, meta["name"]), []).append(doc)
    return out

def main():
    repo, base_rev, head_rev = sys.argv[1:4]
    base_files, head_files = tree(repo, base_rev), tree(repo, head_rev)
    oids = sorted(set(base_files.values()) | set(head_files.values()))
    blobs = read_blobs(repo, oids)
    base, head = objects(base_files, blobs), objects(head_files, blobs)
    counts = {"added": 0, "modified": 0, "deleted": 0, "unchanged": 0}
    for key in set(base) | set(head):
        if key not in base:
            counts["added"] += 1
        elif key not in head:
            counts["deleted"] += 1
        elif base[key][-1] == head[key][-1]:
            counts["unchanged"] += 1
        else:
            counts["modified"] += 1
    print(counts)

if __name__ == "__main__":
    main()
