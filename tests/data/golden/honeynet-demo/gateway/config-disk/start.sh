#!/bin/sh
# Gateway start-up for honeynet demo: rendered by vhoneynet from the topology.
# Builds the layer-2 bridge (no IP, no TTL decrement), loads data control, starts capture.
set -eu
say() { echo "vhn-gateway: $*" > /dev/ttyS0 2>/dev/null || true; }
step=start
trap 'say "failed during $step"' EXIT

# NICs appear when udev has probed virtio-net: wait for each, by MAC, up to 60 s.
nic_with_mac() {
	for _ in $(seq 600); do
		for dev in /sys/class/net/*; do
			[ "$(cat "$dev/address")" = "$1" ] && { basename "$dev"; return 0; }
		done
		sleep 0.1
	done
	say "no NIC with MAC $1"; return 1
}

step=nics
# Name the NICs by their MACs: ext (internet side), int (honeynet side), mgmt (admin).
dev=$(nic_with_mac 52:54:00:d2:35:8e)
ip link set "$dev" down
[ "$dev" = ext ] || ip link set "$dev" name ext
dev=$(nic_with_mac 52:54:00:d5:5c:a2)
ip link set "$dev" down
[ "$dev" = int ] || ip link set "$dev" name int
dev=$(nic_with_mac 52:54:00:2d:bf:3c)
ip link set "$dev" down
[ "$dev" = mgmt ] || ip link set "$dev" name mgmt

# Data control first: no frame crosses before the ruleset is in place (fail closed).
step=ruleset
nft -f /run/vhn/config/ruleset.nft
say "data control loaded"

step=bridge
# No GRO on the bridge ports: merged frames crossing the bridge with conntrack get dropped
# (measured: honeypot UDP never left with GRO on ext/int), and NFQUEUE would have to split them.
ethtool -K ext gro off
ethtool -K int gro off
# Nor merged frames from the host: virtio-net's receive offload (rx-gro-hw, the guest TSO
# feature) hands the gateway 2-segment TCP frames, and every one of them was lost on its way
# through NFQUEUE (measured: TCP across the inline IPS 0.02 MB/s with it, 1.8 MB/s without).
ethtool -K ext rx-gro-hw off 2>/dev/null || true
ethtool -K int rx-gro-hw off 2>/dev/null || true
# The gateway never speaks on the honeynet: no IPv6, no IP on the bridge, no routing.
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=0
ip link add br0 type bridge stp_state 0 forward_delay 0
ip link set br0 type bridge mcast_snooping 0
ip link set br0 up

ip addr add 10.254.0.2/29 dev mgmt
ip link set mgmt up


step=rules
# A rule Suricata cannot load fails the start (it would be skipped silently): see check-rules.sh.
why=$(/bin/sh /run/vhn/config/check-rules.sh) || { say "failed: $why"; exit 1; }

step=ips
# Suricata: outbound inline on NFQUEUE 0 (fail-closed: until it runs, nothing leaves),
# inbound passive on ext. Logs reach /capture/<day>/ids through links re-pointed each day.
# It starts before the capture share is there: it is the slowest part of the start.
mkdir -p /run/vhn/ids
IDS_LOGS="eve-outbound.json fast-outbound.log suricata-outbound.log eve-inbound.json fast-inbound.log suricata-inbound.log"
ids_links() {  # point Suricata's log names into folder $1
	mkdir -p "$1"
	for f in $IDS_LOGS; do ln -sfn "$1/$f" "/run/vhn/ids/$f"; done
}
# Until the capture share is there, Suricata logs into the gateway's memory (see below).
ids_links /run/vhn/ids-boot
# libpcap will not open a NIC that is down; ext is up but on no bridge, with no address and no
# IPv6: it sends nothing.
ip link set ext up
start_suricata() {
	rm -f "/run/vhn/suricata-$1.pid"
	case $1 in
		outbound) suricata -c /run/vhn/config/suricata-outbound.yaml -q 0 -k none -D --pidfile /run/vhn/suricata-outbound.pid ;;
		inbound) suricata -c /run/vhn/config/suricata-inbound.yaml --pcap=ext -k none -D --pidfile /run/vhn/suricata-inbound.pid ;;
	esac
}
start_suricata outbound
start_suricata inbound
for direction in outbound inbound; do
	for _ in $(seq 600); do
		grep -q "Engine started" "/run/vhn/ids/suricata-$direction.log" 2>/dev/null && break
		sleep 0.2
	done
	grep -q "Engine started" "/run/vhn/ids/suricata-$direction.log" || { say "suricata $direction did not start"; exit 1; }
done

step=share
# Everything above is the same at every start of this honeynet's gateway; from here on it writes
# to the host. The capture share is given to the gateway once it is here (hot-plugged): the host
# may first save the gateway as it is now, its warm state, so the next `up` restores it here
# instead of booting it (a save cannot carry a virtiofs share). Until then nothing crosses.
say "waiting for the capture share"
mkdir -p /capture
waited=0
until mount -t virtiofs -o nosuid,nodev,noexec capture /capture 2>/dev/null; do
	sleep 0.2
	waited=$((waited + 1))
	[ $((waited % 300)) -eq 0 ] && say "still waiting for the capture share"
done

step=capture
# The host's capture share: pcap, IDS logs, firewall log, syslog and alerts land there (the
# host mounts it nosuid,nodev,noexec too, and its virtiofsd makes no device nodes).
# Full packet capture of the bridge, straight into the host's capture share: a file per hour or
# 100 MB, and within one hour a ring of 53 files (the oldest overwritten): at most half the quota.
(
	while :; do
		for day in "$(date -u +%F)" "$(date -u -d tomorrow +%F)"; do mkdir -p "/capture/$day/pcap"; done
		sleep 600
	done
) &
mkdir -p "/capture/$(date -u +%F)/pcap"
# On the honeynet port, not on br0: it sees every frame a honeypot sends (also those data
# control drops) and every frame that reaches the honeynet. tcpdump on br0 would put br0 in
# promiscuous mode, so the bridge would clone each frame with its still unconfirmed conntrack
# entry, and the kernel drops such packets at NFQUEUE: the inline IPS would stop everything.
ip link set int up
tcpdump -i int -n -U --immediate-mode -s 0 -Z root -G 3600 -C 100 -W 53 \
	-w '/capture/%Y-%m-%d/pcap/demo-%Y%m%dT%H%M%S.pcap' > /var/log/vhn-tcpdump.log 2>&1 &
for _ in $(seq 50); do
	grep -q "listening on int" /var/log/vhn-tcpdump.log && break
	sleep 0.1
done
grep -q "listening on int" /var/log/vhn-tcpdump.log  # no capture, no crossing
say "capture running"

step=logs
# Log sink for the honeypots' syslog, firewall log, retention (see capture.sh).
/bin/sh /run/vhn/config/capture.sh
say "log capture running"
step=ids-logs
# Suricata's logs move to the share: its names re-pointed, SIGHUP makes it reopen them, and what
# it wrote before (its start, no traffic: the ports are not joined yet) is appended there.
ids_links "/capture/$(date -u +%F)/ids"
for direction in outbound inbound; do kill -HUP "$(cat /run/vhn/suricata-$direction.pid)"; done
sleep 1
for f in $IDS_LOGS; do
	[ -s "/run/vhn/ids-boot/$f" ] && cat "/run/vhn/ids-boot/$f" >> "/capture/$(date -u +%F)/ids/$f"
done
rm -rf /run/vhn/ids-boot
(
	day=$(date -u +%F)
	while sleep 30; do
		[ "$(date -u +%F)" = "$day" ] && continue
		day=$(date -u +%F)
		ids_links "/capture/$day/ids"
		for direction in outbound inbound; do kill -HUP "$(cat /run/vhn/suricata-$direction.pid)" 2>/dev/null || true; done
	done
) &
# Watchdog: while the outbound Suricata is dead nothing a honeypot sends leaves (fail closed);
# it is started again within 10 s. `touch /run/vhn/ips-hold` pauses the watchdog (maintenance).
(
	while sleep 10; do
		[ -e /run/vhn/ips-hold ] && continue
		for direction in outbound inbound; do
			kill -0 "$(cat "/run/vhn/suricata-$direction.pid" 2>/dev/null)" 2>/dev/null && continue
			say "suricata $direction is not running; starting it again"
			start_suricata "$direction"
		done
	done
) &
say "ips running"

step=ports
# Only now join the two sides: data control and capture are in place.
ip link set ext master br0
ip link set int master br0
ip link set ext up
ip link set int up

step=alerts
# Alerts from the firewall log: the first outbound connection of a honeypot (compromise
# indicator) and a limit reached, each once per window, appended to /capture/<day>/alerts.jsonl.
setsid /bin/bash /run/vhn/config/alerts.sh < /dev/null > /var/log/vhn-alerts.log 2>&1 &
say "alerts running"

trap - EXIT
say "ready"
