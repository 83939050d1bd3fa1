#!/bin/sh
# What a careful intruder (or pafish, al-khaser, virt-what, systemd-detect-virt) reads inside a
# machine to tell a VM or a honeypot. Facts only, one "key<TAB>value" a line; the host judges.
fact() { printf '%s\t%s\n' "$1" "$2"; }
for f in sys_vendor product_name product_version bios_vendor bios_version board_vendor board_name chassis_vendor chassis_version product_serial; do
	[ -r "/sys/class/dmi/id/$f" ] && fact "dmi.$f" "$(cat "/sys/class/dmi/id/$f" 2>/dev/null)"
done
fact cpu.model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
fact cpu.vendor "$(sed -n 's/^vendor_id[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
grep -qw hypervisor /proc/cpuinfo && fact cpu.flag hypervisor
command -v systemd-detect-virt > /dev/null && fact detect-virt "$(systemd-detect-virt 2>/dev/null)"
[ -r /sys/hypervisor/type ] && fact hypervisor.type "$(cat /sys/hypervisor/type)"
for d in /sys/bus/pci/devices/*; do
	[ -r "$d/vendor" ] && fact pci "$(cat "$d/vendor"):$(cat "$d/device")"
done
for n in /sys/class/net/*; do
	[ "${n##*/}" = lo ] || fact mac "${n##*/} $(cat "$n/address")"
done
for b in /sys/block/*; do
	name=${b##*/}
	case $name in loop*|ram*) continue ;; esac
	fact disk "$name $(cat "$b/device/vendor" 2>/dev/null | tr -s ' ') $(cat "$b/device/model" 2>/dev/null | tr -s ' ')"
done
for l in /dev/disk/by-label/*; do
	[ -e "$l" ] && fact label "${l##*/}"
done
for t in /sys/firmware/acpi/tables/*; do
	# bytes 10-23 of an ACPI table header: OEM id and OEM table id (qemu's are BOCHS and BXPC)
	[ -f "$t" ] && fact acpi "${t##*/} $(dd if="$t" bs=1 skip=10 count=14 2>/dev/null | tr -c '[:alnum:] ._-' ' ')"
done
[ -e /sys/firmware/qemu_fw_cfg ] && fact fw-cfg /sys/firmware/qemu_fw_cfg
fact chassis "$(cat /sys/class/dmi/id/chassis_type 2>/dev/null)"
dpkg-query -W -f '${Package} ${Status}\n' qemu-guest-agent spice-vdagent open-vm-tools virtualbox-guest-utils \
	xe-guest-utilities hyperv-daemons 2>/dev/null | grep ' installed$' | while read -r p _; do fact package "$p"; done
for d in /sys/block/*/device; do
	b=${d%/device}
	[ -r "$d/rev" ] && fact disk-rev "${b##*/} $(cat "$d/rev")"
done
grep -rlsiE 'vhoneynet|honeynet|honeypot|vhn-' /var/lib/cloud /var/log/cloud-init.log /var/log/cloud-init-output.log \
	2>/dev/null | head -n 5 | while IFS= read -r p; do fact mention "$p"; done
dmesg 2>/dev/null | grep -iE 'hypervisor detected|qemu|kvm-clock|bochs|bxpc|seabios' | head -n 20 | while IFS= read -r line; do fact dmesg "$line"; done
fact clocksource "$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)"
fact cmdline "$(cat /proc/cmdline)"
ps -eo comm= 2>/dev/null | grep -iE 'qemu-ga|vhn|honey|spice|vdagent' | sort -u | while IFS= read -r p; do fact process "$p"; done
find /etc /usr/local /var/lib /var/log /opt /root /home -xdev \( -iname '*vhn*' -o -iname '*vhoneynet*' -o -iname '*honeynet*' -o -iname '*honeypot*' \) 2>/dev/null | head -n 20 | while IFS= read -r p; do fact file "$p"; done
grep -rlsiE 'vhoneynet|honeynet|honeypot' /etc 2>/dev/null | head -n 10 | while IFS= read -r p; do fact mention "$p"; done
# a seed left behind (cloud-init makes /var/lib/cloud/seed itself, empty: that is ordinary)
for d in /var/lib/cloud/seed/*; do
	[ -e "$d" ] && fact seed-left "$d"
done
for p in /etc/rsyslog.d/*.conf /etc/rsyslog.conf; do
		[ -r "$p" ] || continue
		sed -n 's/.*target="\([^"]*\)".*port="\([0-9]*\)".*/\1 \2/p' "$p" | while read -r host port; do
			fact syslog-target "$host $port"
			# a log host that answers on the subnet is what an intruder scanning it finds
			command -v bash > /dev/null && timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null && fact syslog-answers "$host $port"
		done
done
true
