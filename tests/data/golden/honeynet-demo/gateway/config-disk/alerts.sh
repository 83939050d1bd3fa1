#!/bin/bash
# Alert loop of honeynet demo's gateway: rendered by vhoneynet.
# Reads the data-control lines of the kernel log ("vhn demo <verdict> ...", which capture.sh
# also writes to /capture/<day>/firewall/) and turns two of them into /capture/<day>/alerts.jsonl:
#   compromise     a honeypot started an outbound connection (once per honeypot, protocol and hour)
#   limit-reached  a honeypot hit its connection limit (once per honeypot, protocol and hour)
# The host reads alerts.jsonl (`vhoneynet alerts`) and runs the topology's hook for each new line.
set -u
declare -A last

honeypot() {
	case "$1" in
	203.0.113.53) echo dns ;;
	203.0.113.80) echo web ;;
	203.0.113.253) echo verify ;;
	*) echo unknown ;;
	esac
}

field() {  # field NAME LINE: the value of NAME=... in a kernel log line
	local rest=" ${2#* $1=}"
	[ "$rest" = " $2" ] && return
	rest=${rest# }
	echo "${rest%% *}"
}

dmesg -w --notime --level info | while IFS= read -r line; do
	case "$line" in *"vhn demo "*) ;; *) continue ;; esac
	read -r verdict proto _ <<< "${line#*vhn demo }"
	case "$verdict" in
	outbound) kind=compromise ;;
	limited) kind=limit-reached ;;
	*) continue ;;
	esac
	src=$(field SRC "$line")
	[ "$(honeypot "$src")" = verify ] && continue  # `vhoneynet verify` at work, not an intruder
	key="$kind $src $proto"
	now=$(date -u +%s)
	day=$(date -u -d "@$now" +%F)
	stamp=$(date -u -d "@$now" +%FT%TZ)
	mkdir -p "/capture/$day"
	[ $((now - ${last[$key]:-0})) -ge 3600 ] || continue
	last[$key]=$now
	printf '{"time":"%s","honeynet":"demo","kind":"%s","honeypot":"%s","source":"%s","destination":"%s","protocol":"%s","port":"%s","limit":"%s"}\n' \
		"$stamp" "$kind" "$(honeypot "$src")" "$src" "$(field DST "$line")" "$proto" "$(field DPT "$line")" \
		"$(case $proto in tcp) echo 20 ;; udp) echo 20 ;; icmp) echo 50 ;; other) echo 10 ;; esac)/hour" \
		>> "/capture/$day/alerts.jsonl"
done
