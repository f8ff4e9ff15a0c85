#!/usr/bin/env bash
# Pictures of the review for README, regenerated only by this script (never edited by hand):
#   docs/review-comment.png  the incident's PR comment as GitHub shows it: `check --format markdown`
#                            rendered as GitHub Flavored Markdown (comrak, examples/gfm_to_html.rs)
#                            with GitHub-like CSS;
#   docs/review-page.png     the same review as `check --format html`.
# Both are taken by headless Chromium (Debian's `chromium` package). The input is
# tests/fixtures/review/incident: the outage of examples/incident/ with app01's workload present.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "chromium is missing: apt-get install -y chromium" >&2; exit 2; }
cargo build --release --quiet --bin clobbercheck --example gfm_to_html
bin="${CARGO_TARGET_DIR:-target}/release"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fixture=tests/fixtures/review/incident
check() { "$bin/clobbercheck" check --base "$fixture/base" --head "$fixture/head" "$@" || [ $? -eq 1 ]; }
check --format markdown > "$tmp/comment.md"
"$bin/examples/gfm_to_html" < "$tmp/comment.md" > "$tmp/comment.html"
check --format html > "$tmp/page.html"
mkdir -p docs
shot() { # page, png, width,height
  chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$tmp/profile" \
    --window-size="$3" --screenshot="$2" "file://$tmp/$1" 2>/dev/null
}
shot comment.html docs/review-comment.png 940,1900
shot page.html docs/review-page.png 1240,2400
ls -l docs/review-comment.png docs/review-page.png
