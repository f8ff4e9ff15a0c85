#!/usr/bin/env bash
# Repeats the fuzz runs whose figures are in README ("Fuzzing"): builds the seeds and the four
# targets (nightly, cargo-fuzz), then runs each target until its one process has used SECONDS
# of CPU (default 600), one after another, and prints per target: CPU seconds, executions,
# exec/s, coverage (cov/ft of libFuzzer's last status line), corpus size and crashes (files
# libFuzzer wrote to artifacts/<target>/; it stops at the first).
#   fuzz/run.sh [SECONDS] [TARGET...]
# The corpus grows in fuzz/corpus/<target>/ across runs; logs are kept in fuzz/runs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(yaml_split identity config webhook)

./seed.sh
for t in "${targets[@]}"; do
  cargo +nightly fuzz build -O "$t"
done
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p runs

dict_of() {
  case $1 in
    yaml_split | identity) echo yaml.dict ;;
    *) echo "$1.dict" ;;
  esac
}

summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  # One process; SECONDS counts its CPU time (read from /proc), not wall time, so a busy
  # machine does not shorten the run. -timeout: an input taking 10 s is a bug (a webhook must be
  # answered within 10 s).
  "$bin/$t" "corpus/$t" "seeds/$t" "../tests/fixtures/fuzz/$t" \
    -dict="$(dict_of "$t")" -max_total_time=$((seconds * 10)) -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" > "runs/$t.log" 2>&1 &
  pid=$!
  began=$(date +%s)
  cpu=0
  while kill -0 "$pid" 2> /dev/null; do
    used=$(awk -v tck="$(getconf CLK_TCK)" '{printf "%d", ($14 + $15) / tck}' "/proc/$pid/stat" 2> /dev/null) || break
    cpu=$used
    [ "$cpu" -lt "$seconds" ] || kill -INT "$pid"
    sleep 1
  done
  status=0
  wait "$pid" || status=$?
  [ "$status" -ne 72 ] || status=0 # libFuzzer's exit status when interrupted at the budget
  echo "$t: $cpu s CPU, $(($(date +%s) - began)) s wall" >> "runs/$t.log"
  execs=$(grep 'stat::number_of_executed_units:' "runs/$t.log" | tail -n 1 | awk '{print $2}')
  rate=$(grep 'stat::average_exec_per_sec:' "runs/$t.log" | tail -n 1 | awk '{print $2}')
  last=$(grep -E '^#[0-9]+' "runs/$t.log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' <<< "$last" | awk '{print $2}')
  ft=$(grep -o 'ft: [0-9]*' <<< "$last" | awk '{print $2}')
  corpus=$(find "corpus/$t" -type f | wc -l)
  crashes=$(( $(find "artifacts/$t" -type f | wc -l) - before ))
  summary+=("$(printf '%-10s %8s %12s %8s %6s %7s %7s %8s %6s' "$t" "$cpu" "${execs:-?}" \
    "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$crashes" "$status")")
  [ "$crashes" -eq 0 ] || ls -t "artifacts/$t" | head -n "$crashes" | sed "s|^|  artifacts/$t/|"
done

printf '%-10s %8s %12s %8s %6s %7s %7s %8s %6s\n' target cpu_s executions exec/s cov ft corpus crashes exit
printf '%s\n' "${summary[@]}"
