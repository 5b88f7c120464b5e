# shellcheck shell=bash
# Shared by start_cluster.sh and stop_cluster.sh (sourced; needs $PIDS).
# pids file lines: "<name> <pid> <start-time-in-ticks>"; the start time guards
# against a recycled pid.
# start time of a live (non-zombie) process, empty if gone
starttime() { awk '$3 != "Z" {print $22}' "/proc/$1/stat" 2>/dev/null || true; }
recorded_pid() { # name -> prints its pid if the recorded process is alive and still the same one
    [[ -f $PIDS ]] || return 1
    local n p st
    while read -r n p st; do
        if [[ $n == "$1" && -n $p && -n $st && "$(starttime "$p")" == "$st" ]]; then
            echo "$p"; return 0
        fi
    done <"$PIDS"
    return 1
}
