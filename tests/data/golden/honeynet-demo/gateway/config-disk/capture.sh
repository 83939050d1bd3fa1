#!/bin/sh
# Data capture for honeynet demo besides the pcap: run by start.sh before the bridge joins
# its ports. Starts the honeypots' log sink, the firewall log writer and retention, each
# writing to /capture/<day>/ in the host's capture share (the gateway keeps nothing of it), and
# the quota watcher.
set -eu
config=/run/vhn/config
mountpoint -q /capture || { mkdir -p /capture; mount -t virtiofs -o nosuid,nodev,noexec capture /capture; }
say() { echo "vhn-gateway: $*" > /dev/ttyS0 2>/dev/null || true; }

# Firewall log lines are kernel messages; only the console would slow down printing them.
dmesg -n 4

# The log sink: a namespace with the log host's address and MAC, on no bridge; capture.nft's
# ingress hook hands it the honeypots' syslog and audit datagrams. ARP off, IPv6 off, no route:
# it never sends a frame, so nothing on the honeynet ever sees it.
ip netns add log
ip link add vlog type veth peer name sink netns log
ip netns exec log sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.sink.rp_filter=0
ip -n log link set sink address 6c:4b:90:bc:a9:c7 arp off
ip -n log link set lo up
ip -n log addr add 203.0.113.254/32 dev sink
ip -n log link set sink up
sysctl -qw net.ipv6.conf.vlog.disable_ipv6=1
ip link set vlog arp off up
nft -f "$config/capture.nft"
mkdir -p /run/vhn/loghost
ip netns exec log rsyslogd -f "$config/loghost.conf" -i /run/vhn/loghost.pid

# Firewall log: every "vhn demo …" kernel line, into the file of the day it was logged.
(
	last=
	dmesg -w --time-format iso | while IFS= read -r line; do
		case "$line" in
		*"vhn demo "*)
			day=${line%%T*}
			[ "$day" = "$last" ] || { mkdir -p "/capture/$day/firewall"; last=$day; }
			printf '%s\n' "$line" >> "/capture/$day/firewall/firewall.log"
			;;
		esac
	done
) > /dev/null 2>&1 &

# Retention: day folders older than 30 days go (the host applies it too, at up and events).
(
	while :; do
		cutoff=$(date -u -d "-30 days" +%Y%m%d)
		for dir in /capture/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]; do
			[ -d "$dir" ] || continue
			day=$(basename "$dir" | tr -d -)
			[ "$day" -lt "$cutoff" ] && rm -rf "$dir"
		done
		sleep 3600
	done
) > /dev/null 2>&1 &

# Quota watcher: when capture can no longer be written (the share at its quota of 10G,
# the share refusing a write, tcpdump gone), control wins: 203.0.113.0/24 joins the
# capture_full set (capture.nft: no new flow to the internet side, inbound still served) and a
# capture-full alert is written once. It is lifted when capture works again (space freed).
# The host checks the share too, and stops everything if the gateway does not stop in time.
(
	full=
	while sleep 10; do
		reason=
		used=$(du -sk /capture 2>/dev/null | cut -f1)
		if [ "${used:-0}" -ge 10485760 ]; then
			reason="capture share at its quota: ${used} KiB of 10485760 KiB"
		elif ! { : > /capture/.vhn-writable; } 2>/dev/null; then
			reason="capture share refuses writes"
		elif ! pgrep -x tcpdump > /dev/null; then
			reason="packet capture (tcpdump) stopped"
		fi
		if [ -n "$reason" ] && [ -z "$full" ]; then
			nft add element bridge vhn_capture capture_full "{ 203.0.113.0/24 }" && full=1
			say "capture full, outbound locked down: $reason"
			day=$(date -u +%F)
			mkdir -p "/capture/$day" 2>/dev/null
			printf '{"time":"%s","honeynet":"demo","kind":"capture-full","honeypot":"","source":"","destination":"","protocol":"","port":"","limit":"10G","reason":"%s"}\n' \
				"$(date -u +%FT%TZ)" "$reason" >> "/capture/$day/alerts.jsonl" 2>/dev/null
		elif [ -z "$reason" ] && [ -n "$full" ]; then
			nft flush set bridge vhn_capture capture_full && full=
			say "capture writable again, outbound as data control says"
		fi
	done
) > /dev/null 2>&1 &
