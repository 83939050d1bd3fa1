#!/bin/sh
# Before the gateway of honeynet demo is destroyed: let capture write its last packets.
pkill -INT -x tcpdump || true
for _ in $(seq 50); do
	pgrep -x tcpdump > /dev/null || break
	sleep 0.1
done
# only the host's capture folder matters: the gateway's own disk goes with it
sync -f /capture 2>/dev/null || sync
