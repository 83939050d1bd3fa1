#!/bin/sh
# Suricata's own check of the outbound rules, run before the IPS starts. A rule Suricata
# cannot load is otherwise skipped with one line in its log, and the honeynet would run
# without it; here it stops the gateway's start, and `up` fails with this script's output:
# the reason and the rule's file (as its topology field) and line.
dir=/run/vhn/rules-check
mkdir -p "$dir"
suricata -T -c /run/vhn/config/suricata-outbound.yaml -q 0 -k none -l "$dir" > "$dir/stdout" 2>&1 && exit 0
why=$(grep -h ' Error: ' "$dir/suricata-outbound.log" "$dir/stdout" 2>/dev/null | grep -v 'Loading signatures failed' | head -n 2 |
	sed -e 's/^.* Error: //' -e 's/signature ".*" from file/signature from file/' \
		-e 's|/run/vhn/config/custom.rules|gateway.data_control.ips.rules|' \
		-e 's|/run/vhn/config/honeynet.rules|the curated rules|' | tr '\n' ' ')
echo "suricata rejects the rules: ${why:-see $dir (suricata -T failed)}" | cut -c 1-600
exit 1
