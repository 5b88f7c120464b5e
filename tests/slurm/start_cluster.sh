#!/usr/bin/env bash
# Start a single-node SLURM cluster (munge + MariaDB + slurmdbd + slurmctld +
# slurmd) on localhost for integration tests.  Idempotent: daemons already
# running from the same state directory are left alone.
#
#   tests/slurm/start_cluster.sh [STATE_DIR]      (default /tmp/qmoe-slurm)
#
# Needs root (Debian 12 / slurm 22.05).  Installs the Debian packages if they are
# missing.  Every daemon it starts is recorded in STATE_DIR/pids; stop them with
# tests/slurm/stop_cluster.sh [STATE_DIR].
# Env knobs: QMOE_SLURM_TIMEOUT (s, default 90), QMOE_SLURM_DB_PORT (default 3307).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

STATE=${1:-/tmp/qmoe-slurm}
TIMEOUT=${QMOE_SLURM_TIMEOUT:-90}
DB_PORT=${QMOE_SLURM_DB_PORT:-3307}
DB_PASS=qmoe-slurm-test
CLUSTER=qmoe
NODE=localnode
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

die() {
    echo "start_cluster: ERROR: $*" >&2
    [[ -s ${PIDS:-} ]] && echo "start_cluster: daemons started so far are left running; clean up with: $(dirname "$0")/stop_cluster.sh $STATE" >&2
    exit 1
}
log() { echo "start_cluster: $*"; }

[[ $(id -u) -eq 0 ]] || die "must run as root"
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
ETC=$STATE/etc LOGD=$STATE/log RUND=$STATE/run SPOOL=$STATE/spool DATADIR=$STATE/mysql
PIDS=$STATE/pids
DB_SOCK=$RUND/mysqld.sock
export SLURM_CONF=$ETC/slurm.conf
T0=$SECONDS
T0_REAL=$EPOCHREALTIME
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------- install ---
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]} ..."
    t=$EPOCHREALTIME
    # Keep package scripts from starting services themselves (no systemd here):
    # a temporary policy-rc.d, only if the system has none.
    made_policy=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt_ok=1
    if ! apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${PACKAGES[@]}" \
        >"$STATE/apt.log" 2>&1; then
        # package lists may be missing or stale on a fresh machine
        apt-get update -o DPkg::Lock::Timeout=300 >>"$STATE/apt.log" 2>&1 || true
        apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${PACKAGES[@]}" \
            >>"$STATE/apt.log" 2>&1 || apt_ok=
    fi
    [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
    [[ -n $apt_ok ]] || { tail -20 "$STATE/apt.log" >&2; die "apt-get install failed (log: $STATE/apt.log)"; }
    log "installed packages in $(elapsed "$t") s"
fi
for b in munged mariadbd mariadb-install-db mariadb slurmdbd slurmctld slurmd sinfo sacct sbatch setpriv; do
    command -v "$b" >/dev/null || die "$b not found after install"
done

# ------------------------------------------------------------- pid helpers ---
# shellcheck source=tests/slurm/pids.sh
source "$HERE/pids.sh"
record() { # name pid
    local tmp
    tmp=$(mktemp "$STATE/.pids.XXXX")
    [[ -f $PIDS ]] && awk -v n="$1" '$1 != n' "$PIDS" >"$tmp"
    echo "$1 $2 $(starttime "$2")" >>"$tmp"
    mv "$tmp" "$PIDS"
}
# start NAME LOGFILE CMD...: run CMD in the foreground of its own session, in
# the background of this script; $! is the daemon's own pid (setsid execs
# directly since a background job of a non-interactive shell is no group leader).
start_bg() {
    local name=$1 logf=$2; shift 2
    setsid "$@" </dev/null >>"$logf" 2>&1 &
    local pid=$!
    sleep 0.3
    [[ -n $(starttime "$pid") ]] || { tail -20 "$logf" >&2; die "$name exited at once (log: $logf)"; }
    record "$name" "$pid"
    log "started $name (pid $pid)"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # description seconds cmd...   (description: for the reader only)
    local secs=$2; shift 2
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || return 1
        sleep 0.5
    done
}

# ---------------------------------------------------------------- configs ---
mkdir -p "$ETC" "$LOGD" "$RUND" "$SPOOL/ctld" "$SPOOL/d"
touch "$STATE/.qmoe-slurm-state"
CPUS=$(nproc)

# FirstJobId: only used when slurmctld starts without saved state (-c below);
# kept above the ids already in the accounting DB so sacct never mixes a new
# job with an old one of the same id.
write_slurm_conf() {
local first_job_id
first_job_id=$(cat "$STATE/first_job_id" 2>/dev/null || echo 1)
cat >"$ETC/slurm.conf.new" <<EOF
# written by tests/slurm/start_cluster.sh
ClusterName=$CLUSTER
FirstJobId=$first_job_id
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUND/slurmctld.pid
SlurmdPidFile=$RUND/slurmd.pid
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
KillWait=5
MailProg=/bin/true
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
NodeName=$NODE NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
mv "$ETC/slurm.conf.new" "$ETC/slurm.conf"
}
write_slurm_conf

cat >"$ETC/slurmdbd.conf.new" <<EOF
# written by tests/slurm/start_cluster.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$RUND/slurmdbd.pid
LogFile=$LOGD/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chmod 600 "$ETC/slurmdbd.conf.new"
mv "$ETC/slurmdbd.conf.new" "$ETC/slurmdbd.conf"

# ------------------------------------------------------------------ munge ---
mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0700 /var/lib/munge /var/log/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null ||
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if recorded_pid munged >/dev/null; then
    log "munged already running"
elif munge_works; then
    log "using the munged that is already running (not started here)"
else
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    start_bg munged "$LOGD/munged.out" \
        setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground
    wait_for munge 15 munge_works || die "munged does not answer (see $LOGD/munged.out, /var/log/munge/munged.log)"
fi

# ---------------------------------------------------------------- mariadb ---
db() { mariadb --protocol=socket --socket="$DB_SOCK" -uroot "$@"; }
if recorded_pid mariadb >/dev/null; then
    log "mariadb already running"
else
    if [[ ! -d $DATADIR/mysql ]]; then
        rm -rf "$DATADIR"; mkdir -p "$DATADIR"; chown mysql:mysql "$DATADIR"
        mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=socket \
            --skip-test-db >"$LOGD/mariadb-install.log" 2>&1 ||
            { tail -20 "$LOGD/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
    fi
    port_open "$DB_PORT" && die "port $DB_PORT (MariaDB) is in use by a process not started here (another cluster? set QMOE_SLURM_DB_PORT)"
    chown mysql:mysql "$RUND" 2>/dev/null || true
    chmod 0755 "$RUND"
    start_bg mariadb "$LOGD/mariadb.log" \
        mariadbd --no-defaults --user=mysql --datadir="$DATADIR" --socket="$DB_SOCK" \
        --pid-file="$RUND/mariadb.pid" --port="$DB_PORT" --bind-address=127.0.0.1 \
        --skip-name-resolve \
        --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
        --innodb_lock_wait_timeout=900 --max-connections=100
    wait_for mariadb 30 db -e 'SELECT 1' ||
        { tail -20 "$LOGD/mariadb.log" >&2; die "mariadb does not answer on $DB_SOCK"; }
fi
db <<EOF || die "could not create slurm_acct_db / slurm user"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL PRIVILEGES ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF

# ----------------------------------------------------------------- slurm ---
if recorded_pid slurmdbd >/dev/null; then
    log "slurmdbd already running"
else
    port_open 6819 && die "port 6819 (slurmdbd) is in use by a process not started here"
    start_bg slurmdbd "$LOGD/slurmdbd.out" slurmdbd -D
    wait_for slurmdbd 30 port_open 6819 ||
        { tail -20 "$LOGD/slurmdbd.log" >&2; die "slurmdbd does not listen on 6819"; }
fi
if recorded_pid slurmctld >/dev/null; then
    log "slurmctld already running"
else
    port_open 6817 && die "port 6817 (slurmctld) is in use by a process not started here"
    # No slurmd of ours alive means no job can really be running: start with a
    # clean job/node state (-c) so stale jobs from an unclean stop don't linger.
    clear=()
    if ! recorded_pid slurmd >/dev/null; then
        clear=(-c)
        max_id=$(db -N -B -e "SELECT IFNULL(MAX(id_job),0) FROM slurm_acct_db.${CLUSTER}_job_table" 2>/dev/null || echo 0)
        echo $((${max_id:-0} + 1)) >"$STATE/first_job_id"
        write_slurm_conf
    fi
    start_bg slurmctld "$LOGD/slurmctld.out" slurmctld -D "${clear[@]}"
    wait_for slurmctld 30 port_open 6817 ||
        { tail -20 "$LOGD/slurmctld.log" >&2; die "slurmctld does not listen on 6817"; }
fi
if recorded_pid slurmd >/dev/null; then
    log "slurmd already running"
else
    port_open 6818 && die "port 6818 (slurmd) is in use by a process not started here"
    start_bg slurmd "$LOGD/slurmd.out" slurmd -D -N "$NODE"
fi

# ------------------------------------------------------------ readiness ---
# idle when fresh; mixed/allocated/completing when jobs of a running cluster
# are in flight (idempotent re-run).  '*' (not responding), down, drain: not ready.
node_idle() { [[ $(sinfo -h -N -n "$NODE" -o %T 2>/dev/null) =~ ^(idle|mixed|allocated|completing)$ ]]; }
end=$((T0 + TIMEOUT))
until node_idle && sacct -n -X -S now-1minute >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
        echo "--- sinfo:" >&2; sinfo -N -l >&2 || true
        echo "--- sacct:" >&2; sacct -n 2>&1 | tail -3 >&2 || true
        for f in slurmctld slurmd slurmdbd; do echo "--- $f.log:" >&2; tail -8 "$LOGD/$f.log" >&2 || true; done
        die "cluster not ready after ${TIMEOUT} s (state: $STATE)"
    fi
    for d in munged mariadb slurmdbd slurmctld slurmd; do
        if grep -q "^$d " "$PIDS" 2>/dev/null && ! recorded_pid "$d" >/dev/null; then
            tail -20 "$LOGD/$d.log" "$LOGD/$d.out" >&2 2>/dev/null || true
            die "$d died during start-up (logs in $LOGD)"
        fi
    done
    sleep 0.5
done
# Let plain `sinfo`/`sbatch` (and submitit) find the config: link
# /etc/slurm/slurm.conf to ours unless a real config, or the link of another
# running qmoe cluster, is there.
mkdir -p /etc/slurm
link_ok=
if [[ -L /etc/slurm/slurm.conf ]]; then
    tgt=$(readlink /etc/slurm/slurm.conf)
    if [[ $tgt == "$ETC/slurm.conf" ]]; then
        link_ok=1
    elif [[ ! -e $tgt || ( -f "$(dirname "$(dirname "$tgt")")/.qmoe-slurm-state" &&
              ! -s "$(dirname "$(dirname "$tgt")")/pids" ) ]]; then  # stale link of a stopped qmoe cluster
        ln -sfn "$ETC/slurm.conf" /etc/slurm/slurm.conf && link_ok=1
    fi
elif [[ ! -e /etc/slurm/slurm.conf ]]; then
    ln -s "$ETC/slurm.conf" /etc/slurm/slurm.conf && link_ok=1
fi
echo "export SLURM_CONF=$ETC/slurm.conf" >"$STATE/env.sh"
[[ -n $link_ok ]] || log "NOTE: /etc/slurm/slurm.conf is not ours; use: source $STATE/env.sh"

echo "slurm up in $(elapsed "$T0_REAL") s (state: $STATE)"
