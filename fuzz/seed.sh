#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets into fuzz/seeds/<target>/ (not committed; the
# committed hand-picked seeds and regression inputs are tests/fixtures/fuzz/<target>/):
#   yaml_split  tests/fixtures, examples/ and a sample of kube-prometheus manifests (files under
#               16 KiB from 6 commits spread over the bundle's history, 30 per commit);
#   identity    the same files behind a 0 byte (even first byte = read the rest as YAML);
#   config      every .clobbercheck.yml of tests/fixtures and examples/;
#   webhook     ../shared/corpus/github-webhooks behind the byte that picks their event, plus
#               copies whose check_run is named clobbercheck (the only check_run the App acts on).
set -euo pipefail
cd "$(dirname "$0")"
root=..
corpus=$root/../shared/corpus
seeds=seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{yaml_split,identity,config,webhook}

add_manifest() { # file, seed name
  [ "$(stat -c %s "$1")" -le 16384 ] || return 0
  cp "$1" "$seeds/yaml_split/$2"
  { printf '\0'; cat "$1"; } > "$seeds/identity/$2"
}

while IFS= read -r -d '' f; do
  add_manifest "$f" "local-$(echo "$f" | tr '/' '_')"
done < <(find "$root/tests/fixtures" "$root/examples" -type f \
  \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) -not -path '*/fuzz/*' -print0)

while IFS= read -r -d '' f; do
  cp "$f" "$seeds/config/$(echo "$f" | tr '/' '_')"
done < <(find "$root/tests/fixtures" "$root/examples" -name '.clobbercheck.yml' -print0)

if [ -f "$corpus/kube-prometheus-manifests.bundle" ]; then
  kp=$(mktemp -d)
  trap 'rm -rf "$kp"' EXIT
  git clone -q "$corpus/kube-prometheus-manifests.bundle" "$kp/repo" -b manifests-history
  mapfile -t commits < <(git -C "$kp/repo" rev-list --reverse HEAD)
  n=${#commits[@]}
  for i in 0 1 2 3 4 5; do
    c=${commits[$(( (n - 1) * i / 5 ))]}
    git -C "$kp/repo" ls-tree -r --name-only "$c" | grep -E '\.(ya?ml|json)$' |
      awk 'NR % 3 == 1' | head -n 30 | while IFS= read -r path; do
        git -C "$kp/repo" show "$c:$path" > "$kp/file"
        add_manifest "$kp/file" "kp-${c:0:8}-$(echo "$path" | tr '/' '_')"
      done
  done
else
  echo "seed.sh: $corpus/kube-prometheus-manifests.bundle missing; kube-prometheus seeds skipped" >&2
fi

if [ -d "$corpus/github-webhooks" ]; then
  for f in "$corpus"/github-webhooks/*.json; do
    name=$(basename "$f")
    case $name in
      pull_request.*) pick='\x00' ;;
      check_suite.*) pick='\x01' ;;
      check_run.*) pick='\x02' ;;
      installation.*) pick='\x03' ;;
      ping.*) pick='\x04' ;;
      *) pick='\x05' ;;
    esac
    { printf "$pick"; cat "$f"; } > "$seeds/webhook/$name"
    if [ "$pick" = '\x02' ]; then
      { printf "$pick"; sed -e 's/"name": "[^"]*"/"name": "clobbercheck"/' \
          -e 's/"identifier": "[^"]*"/"identifier": "acknowledge"/' "$f"; } \
        > "$seeds/webhook/ours.$name"
    fi
  done
else
  echo "seed.sh: $corpus/github-webhooks missing; webhook seeds skipped" >&2
fi

for t in yaml_split identity config webhook; do
  echo "seed.sh: $t: $(find "$seeds/$t" -type f | wc -l) seeds"
done
