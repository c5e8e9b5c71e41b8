#!/usr/bin/env bash
# Run the same `aifactory bench broker` command on two versions of the code, alternately, in one go.
#
#   scripts/bench-compare.sh [-n RUNS] OLD_REF [NEW_REF] -- BENCH_BROKER_ARGS...
#
# OLD_REF and NEW_REF are git refs; each one's src/ is exported (git archive) into a temporary directory and
# imported from there, so neither touches the working tree. NEW_REF defaults to the working tree as it is
# (tracked and untracked files under src/). The runs alternate old, new, old, new, ... RUNS times each (default 3),
# with the same interpreter (.venv/bin/python, or $PYTHON) and the arguments given after `--` plus `--json`.
# Each run prints its policies' jobs/s (the JSON's `jobs_per_s`: jobs / wall-clock seconds of the simulation; and
# `jobs_per_cpu_s`, over the process's CPU time, where the version reports it) and the load average when it
# started; the end prints the medians per version and policy and the ratios new / old.
# Example (the simulator before and after a change, scaled Philly federation at load 0.9):
#   scripts/bench-compare.sh -n 5 4716ef7 main -- --trace ../shared/gpu-traces/philly/sia_philly_jobs.csv \
#       --load 0.9 --policy broker --estimates user
set -euo pipefail

runs=3
if [[ "${1:-}" == "-n" ]]; then
    runs="$2"
    shift 2
fi
if [[ $# -lt 2 ]]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
old_ref="$1"
shift
new_ref=""
if [[ "$1" != "--" ]]; then
    new_ref="$1"
    shift
fi
if [[ "${1:-}" != "--" ]]; then
    echo "bench-compare: the bench arguments follow --" >&2
    exit 2
fi
shift
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench-compare: -n needs a whole number >= 1, got $runs" >&2
    exit 2
fi

repo="$(git rev-parse --show-toplevel)"
python="${PYTHON:-$repo/.venv/bin/python}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

export_ref() {  # export_ref REF DIR: the ref's src/ into DIR/src
    mkdir -p "$2"
    git -C "$repo" archive "$1" src | tar -x -C "$2"
}

export_ref "$old_ref" "$tmp/old"
old_label="$old_ref ($(git -C "$repo" rev-parse --short "$old_ref"))"
if [[ -n "$new_ref" ]]; then
    export_ref "$new_ref" "$tmp/new"
    new_label="$new_ref ($(git -C "$repo" rev-parse --short "$new_ref"))"
else
    mkdir -p "$tmp/new"
    (cd "$repo" && git ls-files --cached --others --exclude-standard -z src | tar --null -T - -c) | tar -x -C "$tmp/new"
    new_label="working tree"
fi

run_one() {  # run_one DIR OUT ARGS...: one bench run importing aifactory from DIR/src, its JSON into OUT
    local dir="$1" out="$2"
    shift 2
    PYTHONPATH="$dir/src" "$python" - "$dir/src" "$@" > "$out" <<'PY'
import sys
src = sys.argv[1]
sys.path.insert(0, src)
import aifactory
from aifactory.cli.main import main
if not aifactory.__file__.startswith(src):
    sys.exit(f"bench-compare: imported {aifactory.__file__}, not the copy in {src}")
sys.exit(main(["bench", "broker", *sys.argv[2:], "--json"]))
PY
}

rates() {  # rates FILE: "policy/estimates jobs_per_s" per row
    "$python" - "$1" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for row in report["rows"]:
    cpu = row.get("jobs_per_cpu_s")  # older versions report wall-clock jobs/s only
    print(row["policy"] + "/" + row["estimates"], round(row["jobs_per_s"]), round(cpu) if cpu else "-")
PY
}

echo "old: $old_label"
echo "new: $new_label"
echo "command: aifactory bench broker $* --json"
echo "runs: $runs each, alternating; $(nproc) CPUs"
: > "$tmp/all"
for i in $(seq 1 "$runs"); do
    for side in old new; do
        load="$(cut -d' ' -f1-3 /proc/loadavg)"
        run_one "$tmp/$side" "$tmp/out.json" "$@"
        while read -r key rate cpu; do
            echo "run $i $side $key $rate jobs/s, $cpu jobs/CPU-s (load average $load)"
            echo "$side $key $rate $cpu" >> "$tmp/all"
        done < <(rates "$tmp/out.json")
    done
done
"$python" - "$tmp/all" <<'PY'
import statistics
import sys
by: dict[tuple[str, str], list[float]] = {}
cpu: dict[tuple[str, str], list[float]] = {}
for line in open(sys.argv[1]):
    side, key, rate, per_cpu = line.split()
    by.setdefault((key, side), []).append(float(rate))
    if per_cpu != "-":
        cpu.setdefault((key, side), []).append(float(per_cpu))
for key in sorted({k for k, _ in by}):
    old, new = statistics.median(by[(key, "old")]), statistics.median(by[(key, "new")])
    print(f"median {key}: old {old:,.0f} jobs/s, new {new:,.0f} jobs/s, new/old {new / old:.2f} (wall clock)")
    if (key, "old") in cpu and (key, "new") in cpu:
        old, new = statistics.median(cpu[(key, "old")]), statistics.median(cpu[(key, "new")])
        print(f"median {key}: old {old:,.0f} jobs/CPU-s, new {new:,.0f} jobs/CPU-s, new/old {new / old:.2f} (CPU time)")
PY
