#!/usr/bin/env bash
# slurm.sh - a real single-node Slurm cluster (slurmctld, slurmd, munged)
# for the test suite, in a directory of its own, on private ports.
#
#   slurm.sh start DIR   start it; DIR/env then holds the lines a test
#                        applies ("export SLURM_CONF=DIR/slurm.conf", the
#                        partition, node and CPU count) before it runs
#                        sbatch / squeue / scancel
#   slurm.sh stop DIR    cancel its jobs, shut it down and wait until no
#                        process it started is left (by PID, never by name)
#
# The CTest fixture `slurm` (slurm_start / slurm_stop) runs it with
# BUILD/testenv/slurm; tests find DIR/env in $TG_TEST_SLURM.
#
# Everything runs under scripts/testenv/subreaper.c (compiled here with the
# system's cc), in a session of its own and as a child subreaper: the job
# steps' slurmstepd processes, which slurmd detaches, and whatever the jobs
# leave behind are reparented to it rather than to init, and it exits only
# when every one of them has ended. So stop knows the cluster is gone when
# that one PID is gone. Authentication is real munge (auth/munge with a key
# of this cluster's own and munged on a socket in DIR), run as the munge
# user. Needs root (slurmd starts jobs as their submitter).
set -euo pipefail

die() { echo "slurm.sh: $*" >&2; exit 1; }
usage() { echo "usage: slurm.sh start|stop DIR" >&2; exit 2; }

[ $# -eq 2 ] || usage
action=$1
dir=$2
case $action in start|stop|_daemons) ;; *) usage ;; esac
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# DIR goes unquoted into slurm.conf and into DIR/env, which a C test reads
# as plain KEY=VALUE lines.
case $dir in *[!A-Za-z0-9._/+-]*) die "DIR must be a path of [A-Za-z0-9._/+-] only: $dir" ;; esac
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

PARTITION=ci
HOST=$(hostname -s)
CPUS=${TG_SLURM_CPUS:-4}   # more than the machine has is fine (config_overrides)
export SLURM_CONF=$dir/slurm.conf
unset SLURM_CLUSTERS SLURM_JOB_ID SLURM_JOBID   # if the suite itself runs in a Slurm job

# ---- processes, by PID ------------------------------------------------------

# pid_of FILE NAME: the PID in FILE if that process is alive and its command
# name is NAME (a PID reused by something else is not ours), else nothing.
pid_of() {
  local f=$1 name=$2 p comm
  [ -r "$f" ] || return 0
  p=$(tr -dc 0-9 <"$f")
  [ -n "$p" ] || return 0
  comm=$(cat "/proc/$p/comm" 2>/dev/null) || return 0
  [ "$comm" = "$name" ] && echo "$p"
  return 0
}

# wait_gone PID SECONDS: 0 once PID has ended, 1 if it is still there.
wait_gone() {
  local p=$1 i n=$(( $2 * 10 ))
  for ((i = 0; i < n; i++)); do
    kill -0 "$p" 2>/dev/null || return 0
    [ "$(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null)" = Z ] && return 0
    sleep 0.1
  done
  kill -0 "$p" 2>/dev/null && return 1
  return 0
}

# end PID NAME: TERM, wait, then KILL.
end() {
  local p=$1 name=$2
  kill -TERM "$p" 2>/dev/null || return 0
  wait_gone "$p" 10 && return 0
  echo "slurm.sh: $name ($p) ignored SIGTERM for 10 s: SIGKILL" >&2
  kill -KILL "$p" 2>/dev/null || true
  wait_gone "$p" 5
}

# The processes the subreaper still has: its children, including adopted
# orphans.
children_of() {
  local p=$1 c
  for c in /proc/[0-9]*/status; do
    [ "$(awk '/^PPid:/ {print $2}' "$c" 2>/dev/null)" = "$p" ] || continue
    c=${c#/proc/}; echo "${c%/status}"
  done
}

# A port nobody on this machine uses, TCP v4 or v6, listening or not.
used_ports() {
  awk 'NR > 1 { split($2, a, ":"); print strtonum("0x" a[2]) }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
free_port() {
  local avoid=${1:-} p i
  local used; used=$(used_ports | sort -u)
  for ((i = 0; i < 200; i++)); do
    p=$(( 20000 + RANDOM % 40000 ))
    [ "$p" = "$avoid" ] && continue
    grep -qx "$p" <<<"$used" || { echo "$p"; return 0; }
  done
  die "no free TCP port found"
}

log_tails() {
  local f
  for f in "$dir"/log/*.log "$dir"/munge/munged.log; do
    [ -s "$f" ] || continue
    echo "---- $f (last 25 lines)" >&2
    tail -n 25 "$f" >&2
  done
}

# ---- stop -------------------------------------------------------------------

stop() {
  local reaper ctld slurmd munged left p
  reaper=$(pid_of "$dir/subreaper.pid" subreaper)
  ctld=$(pid_of "$dir/slurmctld.pid" slurmctld)
  slurmd=$(pid_of "$dir/slurmd.pid" slurmd)
  munged=$(pid_of "$dir/munge/munged.pid" munged)
  if [ -n "$ctld" ] && [ -r "$SLURM_CONF" ]; then
    # Jobs first: scontrol shutdown leaves running steps (and their
    # slurmstepd) behind.
    scancel --partition="$PARTITION" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
    scontrol shutdown >/dev/null 2>&1 || true
  fi
  for p in $ctld:slurmctld $slurmd:slurmd; do
    wait_gone "${p%%:*}" 15 || end "${p%%:*}" "${p#*:}"
  done
  if [ -n "$munged" ]; then end "$munged" munged; fi
  if [ -n "$reaper" ] && ! wait_gone "$reaper" 5; then
    # Left behind by the daemons or the jobs: ours all the same (the
    # subreaper's children), and nothing else is.
    for p in $(children_of "$reaper"); do
      echo "slurm.sh: still running after shutdown: $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >&2
      end "$p" "process $p"
    done
    wait_gone "$reaper" 10 || { echo "slurm.sh: subreaper $reaper still running" >&2; return 1; }
  fi
  rm -f "$dir/subreaper.pid" "$dir/env"
  return 0
}

# ---- the daemons (run by start, under the subreaper) -------------------------

daemons() {
  # munged as the munge user, straight (setpriv execs: no process between).
  setpriv --reuid=munge --regid=munge --clear-groups \
    munged --foreground --key-file="$dir/munge-key/munge.key" \
    --socket="$dir/munge/munge.sock" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" &
  local i
  for ((i = 0; i < 100; i++)); do
    [ -S "$dir/munge/munge.sock" ] && break
    sleep 0.1
  done
  [ -S "$dir/munge/munge.sock" ] || { echo "munged: no socket after 10 s" >&2; kill %1; exit 1; }
  slurmctld -D -i -f "$SLURM_CONF" &
  slurmd -D -N "$HOST" -f "$SLURM_CONF" &
  wait
}

# ---- start ------------------------------------------------------------------

start() {
  local b missing=()
  for b in slurmctld slurmd sbatch squeue scancel sinfo scontrol munged mungekey setpriv cc; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: apt-get install slurm-wlm munge (scripts/setup.sh does)"
  id munge >/dev/null 2>&1 || die "no munge user: apt-get install munge (scripts/setup.sh does)"
  [ "$(id -u)" = 0 ] || die "needs root (slurmd runs jobs as their submitting user)"

  stop || die "a previous cluster in $dir would not stop"
  rm -rf "$dir"
  mkdir -p "$dir"/{state,spool,log,munge,munge-key}
  chmod 0755 "$dir" "$dir/munge"   # munged refuses a socket in a group/world-writable or 0700 dir
  chown munge:munge "$dir/munge" "$dir/munge-key"
  chmod 0700 "$dir/munge-key"
  setpriv --reuid=munge --regid=munge --clear-groups \
    mungekey --create --keyfile="$dir/munge-key/munge.key" 2>"$dir/log/mungekey.log" ||
    { cat "$dir/log/mungekey.log" >&2; die "mungekey failed"; }
  cc -O1 -Wall -Wextra -Werror -o "$dir/subreaper" "$src/scripts/testenv/subreaper.c"

  local ctld_port slurmd_port mem
  ctld_port=$(free_port)
  slurmd_port=$(free_port "$ctld_port")
  mem=$(awk '/^MemTotal:/ { m = int($2 / 1024) - 512; print (m < 256 ? 256 : m) }' /proc/meminfo)
  : >"$dir/plugstack.conf"
  cat >"$SLURM_CONF" <<EOF
# written by scripts/testenv/slurm.sh: a single-node test cluster
ClusterName=tgtest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
# CR_Core: with CR_Core_Memory a job without a memory request takes the whole
# node's memory and array tasks would run one at a time
SelectTypeParameters=CR_Core
# the node's CPUs as written here, even more than the machine has (the test
# workers mostly wait on their objective command)
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
MinJobAge=60
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

  "$dir/subreaper" bash "$src/scripts/testenv/slurm.sh" _daemons "$dir" \
    </dev/null >"$dir/log/daemons.log" 2>&1 &
  echo $! >"$dir/subreaper.pid"

  local i state=""
  for ((i = 0; i < 300; i++)); do
    state=$(sinfo -h -N -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    kill -0 "$(cat "$dir/subreaper.pid")" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$state" != idle ]; then
    echo "slurm.sh: the node is not idle after 30 s (sinfo: '${state}')" >&2
    log_tails
    stop || true
    exit 1
  fi
  cat >"$dir/env" <<EOF
# written by scripts/testenv/slurm.sh start: apply before sbatch/squeue/scancel
export SLURM_CONF=$SLURM_CONF
export TG_SLURM_PARTITION=$PARTITION
export TG_SLURM_NODE=$HOST
export TG_SLURM_CPUS=$CPUS
EOF
  echo "slurm.sh: node $HOST idle (partition $PARTITION, $CPUS CPUs, slurmctld port $ctld_port), $dir/env"
}

case $action in
  start) start ;;
  stop) stop ;;
  _daemons) daemons ;;
esac
