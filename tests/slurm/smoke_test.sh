#!/usr/bin/env bash
# End-to-end check of a cluster started by start_cluster.sh:
#   1. a 4-task array (`hostname`) ends COMPLETED x4 in sacct
#   2. a cancelled `sleep 60` shows CANCELLED in sacct
#   3. a submitit map_array round trip (skipped if PYTHON can't import submitit)
# Prints the time each took.  Exit non-zero on the first failure.
#   tests/slurm/smoke_test.sh [STATE_DIR]    env: PYTHON (default: repo .venv/bin/python)
set -euo pipefail
STATE=${1:-/tmp/qmoe-slurm}
export SLURM_CONF=$STATE/etc/slurm.conf
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-$HERE/../../.venv/bin/python}
WORK=$(mktemp -d "$STATE/smoke.XXXX")
fail() { echo "smoke_test: FAIL: $*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
wait_until() { # seconds cmd...
    local end=$((SECONDS + $1)); shift
    until "$@"; do ((SECONDS < end)) || return 1; sleep 0.3; done
}

# 1. array
t=$EPOCHREALTIME
id=$(sbatch --parsable --wrap hostname --array=0-3 -o "$WORK/arr-%A_%a.out") || fail "sbatch array"
all_completed() { [[ $(sacct -j "$id" -X -n -P --format=State | grep -c '^COMPLETED$') == 4 ]]; }
wait_until 60 all_completed || { sacct -j "$id" --format=JobID,State -n >&2; fail "array $id not COMPLETED x4"; }
echo "array of 4 round trip: $(since "$t") s"
sacct -j "$id" --format=JobID,State -n

# 2. cancel
id=$(sbatch --parsable --wrap 'sleep 60' -o /dev/null) || fail "sbatch sleep"
running() { [[ $(squeue -h -j "$id" -o %T) == RUNNING ]]; }
wait_until 30 running || fail "job $id never RUNNING"
t=$EPOCHREALTIME
scancel "$id"
cancelled() { sacct -j "$id" -X -n --format=State | grep -q CANCELLED; }
wait_until 60 cancelled || { sacct -j "$id" --format=JobID,State -n >&2; fail "job $id not CANCELLED in sacct"; }
echo "scancel -> CANCELLED in sacct: $(since "$t") s"

# 3. submitit
if "$PYTHON" -c 'import submitit' 2>/dev/null; then
    (cd "$WORK" && timeout 180 "$PYTHON" - "$WORK" <<'EOF') || fail "submitit round trip"
import sys, time, submitit
def square(x):
    return x * x
t = time.time()
ex = submitit.AutoExecutor(folder=sys.argv[1] + "/submitit/%j", cluster="slurm")
ex.update_parameters(slurm_partition="debug", timeout_min=2, cpus_per_task=1, slurm_mem="200M")
jobs = ex.map_array(square, [1, 2, 3, 4])
res = [j.result() for j in jobs]
assert res == [1, 4, 9, 16], res
print(f"submitit map_array(4) round trip: {time.time() - t:.1f} s -> {res}")
EOF
else
    echo "submitit: skipped ($PYTHON cannot import submitit)"
fi
rm -rf "$WORK"
echo "smoke_test: OK"
