#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start_cluster.sh recorded in STATE_DIR/pids
# (default /tmp/qmoe-slurm): slurmd, slurmctld, slurmdbd, mariadb, munged.
# SIGTERM first, SIGKILL after a few seconds.  Only recorded pids (checked
# against their recorded start time) and job step daemons (slurmstepd) holding
# files in this state dir are signalled; nothing else is touched.
#
#   tests/slurm/stop_cluster.sh [STATE_DIR]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

STATE=${1:-/tmp/qmoe-slurm}
GRACE=${QMOE_SLURM_STOP_GRACE:-8}
log() { echo "stop_cluster: $*"; }

if [[ ! -d $STATE ]]; then log "no state dir $STATE: nothing to stop"; exit 0; fi
STATE=$(cd "$STATE" && pwd)
T0=$EPOCHREALTIME
PIDS=$STATE/pids
export SLURM_CONF=$STATE/etc/slurm.conf

# shellcheck source=tests/slurm/pids.sh
source "$HERE/pids.sh"
# slurmstepd processes of this cluster: they keep files of this state dir open
# (slurmd.log).
our_stepds() {
    local p f
    for p in $(pgrep -x slurmstepd 2>/dev/null); do
        for f in /proc/"$p"/fd/*; do
            if [[ $(readlink "$f" 2>/dev/null) == "$STATE"/* ]]; then echo "$p"; break; fi
        done
    done
}
# given pids, print them and all their descendants, plus processes running a
# batch script from this state dir (orphaned job processes)
job_procs() {
    ps -eo pid=,ppid=,args= | awk -v roots="$*" -v jobdir="$STATE/spool/d/job" '
        { pid[NR]=$1; ppid[NR]=$2; if (index($4, jobdir) == 1 && $4 ~ /\/slurm_script$/) keep[$1]=1 }
        END {
            n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1
            do { changed = 0
                 for (i = 1; i <= NR; i++) if ((ppid[i] in keep) && !(pid[i] in keep)) { keep[pid[i]] = 1; changed = 1 }
            } while (changed)
            for (p in keep) print p
        }'
}
stop_pids() { # name pid...
    local name=$1; shift
    (($#)) || return 0
    local p st alive=()
    declare -A sts=()
    for p in "$@"; do sts[$p]=$(starttime "$p"); done
    local t0=$EPOCHREALTIME
    kill -TERM "$@" 2>/dev/null
    local end=$((SECONDS + GRACE))
    while :; do
        alive=()
        for p in "$@"; do
            st=$(starttime "$p")
            [[ -n $st && $st == "${sts[$p]}" ]] && alive+=("$p")
        done
        ((${#alive[@]})) || break
        if ((SECONDS >= end)); then
            log "$name did not stop in ${GRACE} s: SIGKILL ${alive[*]}"
            kill -KILL "${alive[@]}" 2>/dev/null
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    log "stopped $name ($*) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
}

if [[ ! -f $PIDS ]]; then log "no $PIDS: nothing to stop"; exit 0; fi

# Cancel what is still queued or running so job steps end cleanly.
if pid=$(recorded_pid slurmctld) && command -v squeue >/dev/null; then
    jobs=$(timeout 5 squeue -h -o %A 2>/dev/null | sort -u)
    if [[ -n $jobs ]]; then
        log "cancelling jobs: $(echo $jobs)"
        timeout 5 scancel $jobs 2>/dev/null
        for _ in $(seq 1 20); do [[ -z $(our_stepds) ]] && break; sleep 0.5; done
    fi
fi

for name in slurmd slurmctld slurmdbd mariadb munged; do
    if pid=$(recorded_pid "$name"); then
        stop_pids "$name" "$pid"
    fi
    if [[ $name == slurmd ]]; then
        # job step daemons still alive, with their job processes
        # shellcheck disable=SC2046  # a list of pids
        procs=$(job_procs $(our_stepds))
        [[ -n $procs ]] && stop_pids "slurmstepd/job processes" $procs
    fi
done
rm -f "$PIDS"

# Drop the /etc/slurm/slurm.conf link if it points into this state dir.
if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$STATE/etc/slurm.conf" ]]; then
    rm -f /etc/slurm/slurm.conf
fi
log "done in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
