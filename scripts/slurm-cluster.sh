#!/usr/bin/env bash
# Single-node Slurm test clusters on this machine, side by side, for the `slurm` test tier.
#
#   scripts/slurm-cluster.sh up     [NAME ...]   start clusters (default: aif-a); idempotent
#   scripts/slurm-cluster.sh down   [NAME ...]   stop clusters (default: every cluster set up here),
#                                                and slurmdbd once none is left; munge and MariaDB stay up
#   scripts/slurm-cluster.sh status [NAME ...]   show them; exit 3 when one of them is not up
#
# `up` installs what is missing (Slurm 22.05 from Debian's packages, munge, MariaDB), starts munge,
# MariaDB and one slurmdbd shared by all clusters, then one slurmctld and one slurmd per cluster,
# waits until the cluster's node is idle and prints the SLURM_CONF to use for each cluster.
#
# Each cluster has its own folder, $AIFACTORY_SLURM_ROOT/<name>/ (default /var/lib/aifactory-slurm):
# slurm.conf, gres.conf, state, spool, pid and log files, and eight plain files standing in for GPUs
# (GRES gpu, File= backed). Its node is called <name>-n1 (NodeAddr 127.0.0.1), so several clusters
# can run on one host; slurmd is started with -N <node>.
#
# Ports: aif-a 6817/6818, aif-b 6917/6918, any other name 7017/7018, 7117/7118, ... (kept in the
# cluster's folder once chosen); slurmdbd listens on $AIFACTORY_SLURMDBD_PORT (default 6819).
#
# Accounting: AccountingStorageEnforce=associations,limits,qos,safe and AccountingStorageTRES=gres/gpu,
# with priority/multifactor (usage never decays), so an account's GrpTRESMins=gres/gpu=N is a hard
# budget of N GPU-minutes: with `safe`, a job whose GPUs x time limit does not fit in what is left
# stays pending (reason AssocGrpGRESMinutes) instead of starting.
#
# Node shape, to mirror a site profile (applies to the clusters named in this `up`; a change restarts them):
# AIFACTORY_SLURM_PARTITIONS, partitions as "NAME[:MAXMINUTES] ..." (the first is the default; default
# "main"), AIFACTORY_SLURM_GPUS (GPUs the node declares, default 8), AIFACTORY_SLURM_CPUS (CPUs the node
# declares, default 16; slurmd takes the declared shape as it is, config_overrides).
#
# Environment: AIFACTORY_SLURM_ROOT (state folder), AIFACTORY_SLURM_TIMEOUT (seconds to wait for a
# node to be idle, default 90),
# AIFACTORY_SLURMDBD_PORT, AIFACTORY_SLURM_DB and AIFACTORY_SLURM_DB_USER (MariaDB database and user
# of slurmdbd; a second state folder on the same machine needs its own port, database and user).
set -euo pipefail

ROOT="${AIFACTORY_SLURM_ROOT:-/var/lib/aifactory-slurm}"
TIMEOUT="${AIFACTORY_SLURM_TIMEOUT:-90}"
NODE_CPUS="${AIFACTORY_SLURM_CPUS:-16}"
DBD_PORT="${AIFACTORY_SLURMDBD_PORT:-6819}"
DB_NAME="${AIFACTORY_SLURM_DB:-aifactory_slurm_acct}"
DB_USER="${AIFACTORY_SLURM_DB_USER:-aifactory_slurm}"
GPUS_PER_NODE="${AIFACTORY_SLURM_GPUS:-8}"
PARTITIONS="${AIFACTORY_SLURM_PARTITIONS:-main}"
DBD_DIR="$ROOT/slurmdbd"
HOST="$(hostname -s)"

log() { printf '[slurm-cluster] %s\n' "$*" >&2; }
die() {
    printf '[slurm-cluster] error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

check_name() {
    [[ "$1" =~ ^[a-z][a-z0-9-]{0,29}$ ]] || die "cluster name '$1' must be lower-case letters, digits and '-' (at most 30)"
}

# --- processes ----------------------------------------------------------------------------------

# read_pid PIDFILE: the pid written in PIDFILE, or nothing (daemons remove their pid file as they exit).
read_pid() { tr -dc '0-9' 2>/dev/null <"$1" || true; }

# proc_alive PID COMMAND: true when PID is a live (not zombie) process named COMMAND.
proc_alive() {
    local pid="$1" comm="$2"
    [[ -n "$pid" ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == "$comm" ]] || return 1
    ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

# pid_alive PIDFILE COMMAND: true when the pid in PIDFILE is a live process named COMMAND.
pid_alive() { proc_alive "$(read_pid "$1")" "$2"; }

# stop_pid PIDFILE COMMAND: TERM the process, wait up to 20 s for it to end, then KILL it.
stop_pid() {
    local pidfile="$1" comm="$2" pid i
    pid="$(read_pid "$pidfile")"
    if ! proc_alive "$pid" "$comm"; then
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        proc_alive "$pid" "$comm" || break
        sleep 0.5
    done
    if proc_alive "$pid" "$comm"; then
        log "$comm ($pid) did not stop on TERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$pidfile"
}

tail_logs() {
    local f
    for f in "$@"; do
        [[ -f "$f" ]] || continue
        printf '\n----- last lines of %s -----\n' "$f" >&2
        tail -n 30 "$f" >&2 || true
    done
}

# --- installation -------------------------------------------------------------------------------

install_packages() {
    local missing=() created_policy=0 version
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v munged >/dev/null || missing+=(munge)
    [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
    command -v mariadb >/dev/null || missing+=(mariadb-client)
    if ((${#missing[@]})); then
        [[ "$(id -u)" == 0 ]] || die "packages missing (${missing[*]}) and not root: install them or run as root"
        log "installing ${missing[*]}"
        # Packages must not start their own daemons (with the system's configuration) on install.
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            created_policy=1
        fi
        if ! {
            apt-get -o DPkg::Lock::Timeout=300 update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                    -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
        }; then
            ((created_policy)) && rm -f /usr/sbin/policy-rc.d
            die "apt-get could not install ${missing[*]}"
        fi
        ((created_policy)) && rm -f /usr/sbin/policy-rc.d
    fi
    version="$(slurmctld -V 2>/dev/null || true)"
    [[ "$version" == *" 22.05"* ]] || log "warning: expected Slurm 22.05, found '${version:-unknown}'"
}

# --- munge, MariaDB, slurmdbd ---------------------------------------------------------------------

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    local i
    munge_ok && return 0
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating the munge key"
        mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null ||
            { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none; }
        chown munge:munge /etc/munge/munge.key 2>/dev/null || true
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge
    chown munge:munge /run/munge 2>/dev/null || true
    log "starting munged"
    munged --force 9>&-
    for ((i = 0; i < 20; i++)); do
        munge_ok && return 0
        sleep 0.5
    done
    die "munged does not answer (munge -n | unmunge fails)"
}

mariadb_ok() { mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; }

start_mariadb() {
    local i
    mariadb_ok && return 0
    mkdir -p /run/mysqld /var/log/mysql
    chown mysql:mysql /run/mysqld /var/log/mysql
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        log "initialising MariaDB's data folder"
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    fi
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --chuid mysql --exec /usr/sbin/mariadbd 9>&-
    for ((i = 0; i < 60; i++)); do
        mariadb_ok && return 0
        sleep 0.5
    done
    die "MariaDB does not answer on its socket (mariadb-admin ping fails)"
}

setup_database() {
    local passfile="$DBD_DIR/storage-pass" pass
    mkdir -p "$DBD_DIR"
    chmod 700 "$DBD_DIR"
    if [[ ! -s "$passfile" ]]; then
        (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$passfile")
    fi
    pass="$(cat "$passfile")"
    mariadb --protocol=socket -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
}

write_dbd_conf() {
    local conf="$DBD_DIR/slurmdbd.conf" tmp
    tmp="$(mktemp "$DBD_DIR/.slurmdbd.conf.XXXXXX")"
    cat >"$tmp" <<EOF
# Written by scripts/slurm-cluster.sh; one slurmdbd serves every test cluster on this machine.
AuthType=auth/munge
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$(cat "$DBD_DIR/storage-pass")
StorageLoc=$DB_NAME
LogFile=$DBD_DIR/slurmdbd.log
PidFile=$DBD_DIR/slurmdbd.pid
DebugLevel=info
EOF
    chmod 600 "$tmp"
    if [[ -f "$conf" ]] && cmp -s "$tmp" "$conf"; then
        rm -f "$tmp"
        return 1 # unchanged
    fi
    mv -f "$tmp" "$conf"
    return 0
}

# sacctmgr needs a slurm.conf naming slurmdbd; any cluster's will do.
dbd_ok() { SLURM_CONF="$1" sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; }

start_slurmdbd() {
    local any_conf="$1" changed=0 i
    write_dbd_conf && changed=1
    if pid_alive "$DBD_DIR/slurmdbd.pid" slurmdbd; then
        if ((changed)); then
            log "slurmdbd.conf changed; restarting slurmdbd"
            stop_pid "$DBD_DIR/slurmdbd.pid" slurmdbd
        elif dbd_ok "$any_conf"; then
            return 0
        fi
    fi
    if ! pid_alive "$DBD_DIR/slurmdbd.pid" slurmdbd; then
        log "starting slurmdbd (port $DBD_PORT)"
        # slurmdbd reads slurmdbd.conf from the folder of SLURM_CONF.
        SLURM_CONF="$DBD_DIR/slurm.conf" slurmdbd 9>&-
    fi
    for ((i = 0; i < 120; i++)); do
        dbd_ok "$any_conf" && return 0
        pid_alive "$DBD_DIR/slurmdbd.pid" slurmdbd || [[ $i -lt 10 ]] || break
        sleep 0.5
    done
    tail_logs "$DBD_DIR/slurmdbd.log"
    die "slurmdbd does not answer (sacctmgr list cluster fails)"
}

# --- one cluster ----------------------------------------------------------------------------------

cluster_dir() { printf '%s/%s' "$ROOT" "$1"; }
node_name() { printf '%s-n1' "$1"; }

# ports NAME: prints "CTLD_PORT SLURMD_PORT", chosen once and kept in the cluster's folder.
ports() {
    local name="$1" dir f base used d
    dir="$(cluster_dir "$name")"
    f="$dir/ports"
    if [[ -s "$f" ]]; then
        cat "$f"
        return 0
    fi
    case "$name" in
    aif-a) base=6817 ;;
    aif-b) base=6917 ;;
    *)
        used=" "
        for d in "$ROOT"/*/ports; do
            [[ -s "$d" ]] && used+="$(cut -d' ' -f1 "$d") "
        done
        base=7017
        while [[ "$used" == *" $base "* ]]; do base=$((base + 100)); done
        ;;
    esac
    mkdir -p "$dir"
    printf '%s %s\n' "$base" "$((base + 1))" >"$f"
    cat "$f"
}

render_slurm_conf() {
    local name="$1" dir node ctld_port slurmd_port mem
    dir="$(cluster_dir "$name")"
    node="$(node_name "$name")"
    read -r ctld_port slurmd_port < <(ports "$name")
    mem=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 512))
    ((mem > 1024)) || mem=1024
    cat <<EOF
# Written by scripts/slurm-cluster.sh: single-node test cluster '$name'.
ClusterName=$name
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
PriorityType=priority/multifactor
PriorityDecayHalfLife=0
PriorityUsageResetPeriod=NONE
PriorityCalcPeriod=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStorageEnforce=associations,limits,qos,safe
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=300
InactiveLimit=0
KillWait=5
NodeName=$node NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$mem Gres=gpu:$GPUS_PER_NODE State=UNKNOWN
EOF
    local entry pname ptime default=YES
    for entry in $PARTITIONS; do
        pname="${entry%%:*}"
        ptime=INFINITE
        [[ "$entry" == *:* ]] && ptime="${entry#*:}"
        printf 'PartitionName=%s Nodes=%s Default=%s MaxTime=%s State=UP\n' "$pname" "$node" "$default" "$ptime"
        default=NO
    done
}

check_shape() {
    local entry
    [[ "$GPUS_PER_NODE" =~ ^[1-9][0-9]?$ ]] || die "AIFACTORY_SLURM_GPUS must be 1..99"
    [[ "$NODE_CPUS" =~ ^[1-9][0-9]{0,3}$ ]] || die "AIFACTORY_SLURM_CPUS must be 1..9999"
    [[ -n "$PARTITIONS" ]] || die "AIFACTORY_SLURM_PARTITIONS is empty"
    for entry in $PARTITIONS; do
        [[ "$entry" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(:[1-9][0-9]{0,5})?$ ]] ||
            die "partition '$entry' must be NAME or NAME:MAXMINUTES"
    done
}

render_gres_conf() {
    local name="$1" dir
    dir="$(cluster_dir "$name")"
    cat <<EOF
# Written by scripts/slurm-cluster.sh: plain files stand in for the node's GPUs.
AutoDetect=off
NodeName=$(node_name "$name") Name=gpu File=$dir/gpu/fakegpu[0-$((GPUS_PER_NODE - 1))]
EOF
}

# write_if_changed FILE: stdin -> FILE; returns 0 when FILE changed.
write_if_changed() {
    local f="$1" tmp
    tmp="$(mktemp "$f.XXXXXX")"
    cat >"$tmp"
    chmod 644 "$tmp"
    if [[ -f "$f" ]] && cmp -s "$tmp" "$f"; then
        rm -f "$tmp"
        return 1
    fi
    mv -f "$tmp" "$f"
    return 0
}

prepare_cluster() {
    local name="$1" dir i changed=0
    dir="$(cluster_dir "$name")"
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/gpu"
    for ((i = 0; i < GPUS_PER_NODE; i++)); do
        [[ -e "$dir/gpu/fakegpu$i" ]] || : >"$dir/gpu/fakegpu$i"
    done
    render_slurm_conf "$name" | write_if_changed "$dir/slurm.conf" && changed=1
    render_gres_conf "$name" | write_if_changed "$dir/gres.conf" && changed=1
    ((changed))
}

cluster_running() {
    local dir
    dir="$(cluster_dir "$1")"
    pid_alive "$dir/slurmctld.pid" slurmctld && pid_alive "$dir/slurmd.pid" slurmd
}

stop_cluster() {
    local name="$1" dir
    dir="$(cluster_dir "$name")"
    stop_pid "$dir/slurmd.pid" slurmd
    stop_pid "$dir/slurmctld.pid" slurmctld
}

# node_state NAME: the node's state as sinfo prints it (e.g. idle, mixed, drained, idle*), or "".
node_state() {
    local name="$1"
    SLURM_CONF="$(cluster_dir "$name")/slurm.conf" timeout 10 \
        sinfo -h -N -n "$(node_name "$name")" -o '%T' 2>/dev/null | head -n 1 || true
}

register_cluster() {
    local name="$1" conf
    conf="$(cluster_dir "$name")/slurm.conf"
    if ! SLURM_CONF="$conf" sacctmgr -n -P list cluster format=cluster | grep -qx "$name"; then
        log "registering cluster $name with slurmdbd"
        SLURM_CONF="$conf" sacctmgr -i add cluster "$name" >/dev/null
    fi
}

start_cluster() {
    local name="$1" dir conf node state deadline resumed=0
    dir="$(cluster_dir "$name")"
    conf="$dir/slurm.conf"
    node="$(node_name "$name")"
    register_cluster "$name"
    if ! pid_alive "$dir/slurmctld.pid" slurmctld; then
        log "starting slurmctld for $name"
        SLURM_CONF="$conf" slurmctld 9>&-
    fi
    if ! pid_alive "$dir/slurmd.pid" slurmd; then
        log "starting slurmd $node for $name"
        SLURM_CONF="$conf" slurmd -N "$node" 9>&-
    fi
    deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! pid_alive "$dir/slurmctld.pid" slurmctld || ! pid_alive "$dir/slurmd.pid" slurmd; then
            # Daemons write their pid file once started; one that is gone after a few seconds has failed.
            ((SECONDS > deadline - TIMEOUT + 5)) && { state="(a daemon exited)" && break; }
            sleep 1
            continue
        fi
        state="$(node_state "$name")"
        case "$state" in
        idle | mixed | allocated | completing) return 0 ;;
        *drain*)
            if ((!resumed)) && ! grep -q 'INVAL' <<<"$state"; then
                log "node $node is '$state'; resuming it"
                SLURM_CONF="$conf" scontrol update nodename="$node" state=resume 2>/dev/null || true
                resumed=1
            fi
            ;;
        esac
        sleep 1
    done
    pid_alive "$dir/slurmctld.pid" slurmctld || log "cluster $name: slurmctld is not running"
    pid_alive "$dir/slurmd.pid" slurmd || log "cluster $name: slurmd $node is not running"
    log "cluster $name: node $node is '${state:-unreachable}' (expected idle; waited up to ${TIMEOUT}s)"
    SLURM_CONF="$conf" scontrol show node "$node" 2>/dev/null | grep -E 'State=|Reason=' >&2 || true
    tail_logs "$dir/log/slurmctld.log" "$dir/log/slurmd.log" "$DBD_DIR/slurmdbd.log"
    die "cluster $name did not come up"
}

known_clusters() {
    local d
    for d in "$ROOT"/*/slurm.conf; do
        [[ -f "$d" ]] || continue
        basename "$(dirname "$d")"
    done
}

# --- commands -------------------------------------------------------------------------------------

# One `up` or `down` at a time per state folder. Daemons are started with fd 9 closed so that they
# do not go on holding the lock.
take_lock() {
    mkdir -p "$ROOT"
    exec 9>"$ROOT/.lock"
    flock -w 600 9 || die "another slurm-cluster.sh has held $ROOT/.lock for 10 minutes"
}

cmd_up() {
    local names=("$@") name started=$SECONDS
    ((${#names[@]})) || names=(aif-a)
    for name in "${names[@]}"; do check_name "$name"; done
    check_shape
    [[ "$(id -u)" == 0 ]] || die "'up' must run as root (it installs packages and starts daemons as root)"
    take_lock
    install_packages
    start_munge
    start_mariadb
    setup_database
    local changed=()
    for name in "${names[@]}"; do
        if prepare_cluster "$name"; then changed+=("$name"); fi
    done
    mkdir -p "$DBD_DIR"
    start_slurmdbd "$(cluster_dir "${names[0]}")/slurm.conf"
    for name in "${names[@]}"; do
        if [[ " ${changed[*]} " == *" $name "* ]] && pid_alive "$(cluster_dir "$name")/slurmctld.pid" slurmctld; then
            log "configuration of $name changed; restarting it"
            stop_cluster "$name"
        elif cluster_running "$name" && [[ -n "$(node_state "$name")" ]]; then
            log "cluster $name is already running"
        fi
        start_cluster "$name"
    done
    log "up in $((SECONDS - started)) s"
    for name in "${names[@]}"; do
        printf '%s: SLURM_CONF=%s/slurm.conf\n' "$name" "$(cluster_dir "$name")"
    done
}

cmd_down() {
    local names=("$@") name any=0
    [[ -d "$ROOT" ]] || return 0
    take_lock
    ((${#names[@]})) || mapfile -t names < <(known_clusters)
    for name in "${names[@]}"; do
        check_name "$name"
        [[ -d "$(cluster_dir "$name")" ]] || continue
        log "stopping $name"
        stop_cluster "$name"
    done
    for name in $(known_clusters); do
        if pid_alive "$(cluster_dir "$name")/slurmctld.pid" slurmctld; then any=1; fi
    done
    if ((!any)) && [[ -d "$DBD_DIR" ]]; then
        log "no cluster left running; stopping slurmdbd"
        stop_pid "$DBD_DIR/slurmdbd.pid" slurmdbd
    fi
}

cmd_status() {
    local names=("$@") name dir state rc=0 ctld slurmd
    ((${#names[@]})) || mapfile -t names < <(known_clusters)
    ((${#names[@]})) || names=(aif-a)
    if pid_alive "$DBD_DIR/slurmdbd.pid" slurmdbd; then
        printf 'slurmdbd: running (port %s)\n' "$DBD_PORT"
    else
        printf 'slurmdbd: stopped\n'
    fi
    for name in "${names[@]}"; do
        check_name "$name"
        dir="$(cluster_dir "$name")"
        ctld=stopped slurmd=stopped state=""
        pid_alive "$dir/slurmctld.pid" slurmctld && ctld=running
        pid_alive "$dir/slurmd.pid" slurmd && slurmd=running
        [[ $ctld == running ]] && state="$(node_state "$name")"
        printf '%s: slurmctld %s, slurmd %s, node %s %s, SLURM_CONF=%s/slurm.conf\n' \
            "$name" "$ctld" "$slurmd" "$(node_name "$name")" "${state:-unknown}" "$dir"
        case "$state" in idle | mixed | allocated | completing) ;; *) rc=3 ;; esac
    done
    return "$rc"
}

main() {
    (($#)) || usage
    local cmd="$1"
    shift
    case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
