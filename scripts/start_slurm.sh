#!/usr/bin/env bash
# A single-node SLURM on this machine for the SLURM backend's tests (run as root; CI's .ci/run
# calls it). Installs the Debian packages if missing, writes a minimal slurm.conf (one node =
# this machine, one partition `debug`), starts munged, slurmctld and slurmd, and waits until
# `sinfo` shows the node idle. Exits non-zero if it cannot; the tests then skip with the reason.
set -euo pipefail

WAIT_S=${SLURM_START_WAIT_S:-60}
log() { echo "start_slurm: $*" >&2; }

if [ "$(id -u)" != 0 ]; then log "needs root"; exit 1; fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

host=$(hostname -s)
if sinfo -h -n "$host" -o %t 2>/dev/null | grep -qx idle; then
  log "node $host already idle"; exit 0
fi

# munge: authentication between the SLURM daemons and clients.
mkdir -p /etc/munge /var/log/munge /var/lib/munge /run/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge /run/munge
chmod 0400 /etc/munge/munge.key
munge -n >/dev/null 2>&1 || runuser -u munge -- munged --force

cpus=$(nproc)
# slurmd refuses a node whose RealMemory exceeds what it sees; leave some for the system.
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=vi-od-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

scontrol ping 2>/dev/null | grep -q UP || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq "$WAIT_S"); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  if [ "$state" = idle ]; then log "node $host idle ($cpus CPUs, $mem_mb MB)"; exit 0; fi
  # a node left down or drained by an earlier run comes back with an explicit resume
  case "$state" in down*|drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true;; esac
  sleep 1
done
log "node $host not idle after ${WAIT_S}s (state: ${state:-none}); see /var/log/slurm/"
tail -5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
