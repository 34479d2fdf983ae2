#!/bin/bash
# A one-node Slurm cluster on this machine (Debian's slurmctld + slurmd + munge), for trying
# `gpubench fleet launch --scheduler slurm` for real. Needs root. Idempotent: stops what it started before.
#
#   apt-get install -y slurmctld slurmd munge slurm-client   # Debian 12: Slurm 22.05
#   scripts/slurm_one_node.sh start     # writes /etc/slurm/slurm.conf, starts munged, slurmctld, slurmd
#   scripts/slurm_one_node.sh stop
#
# No cgroup plugins (proctrack/linuxproc, task/none): containers seldom let slurmd manage cgroups. CPUs only
# (no gres): the fleet test runs `--device cpu`, one task per "GPU".
set -eu
cmd=${1:-start}
host=$(hostname -s)
state=/var/spool/slurmctld
conf=/etc/slurm/slurm.conf

stop() {
  for name in slurmd slurmctld munged; do
    pidfile=/run/gpubench-$name.pid
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
  done
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
command -v slurmctld >/dev/null || { echo "slurmctld not installed (apt-get install -y slurmctld slurmd munge)"; exit 3; }
stop
sleep 1
read -r cpus mem < <(slurmd -C | awk '/^NodeName/ {for(i=1;i<=NF;i++){split($i,a,"="); if(a[1]=="CPUs")c=a[2]; if(a[1]=="RealMemory")m=a[2]} print c, m}')
mkdir -p /etc/slurm "$state" /var/spool/slurmd /var/log/slurm /run/munge
cat > "$conf" <<CONF
ClusterName=gpubench
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/gpubench-slurmctld.pid
SlurmdPidFile=/run/gpubench-slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
[ -s /etc/munge/munge.key ] || mungekey --create --force
chown -R munge:munge /etc/munge /run/munge 2>/dev/null || true
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
su -s /bin/sh munge -c "munged --pid-file=/run/munge/munged.pid" 2>/dev/null || munged --force
cp /run/munge/munged.pid /run/gpubench-munged.pid 2>/dev/null || true
slurmctld
slurmd
for _ in $(seq 1 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then sinfo; exit 0; fi
  sleep 1
done
echo "slurm did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
tail -5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 4
