# Runs inside the chroot with /bin/sh; DEBIAN_FRONTEND=noninteractive; services cannot start.
set -eu

# Nobody logs in as root with a password: honeypots get users from cloud-init, the gateway is driven by its config disk.
passwd -l root

echo localhost > /etc/hostname
cat > /etc/hosts <<'HOSTS'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
HOSTS
# By label: the root disk is /dev/vda (virtio) or /dev/sda (SATA), depending on the guest's hardware.
echo 'LABEL=rootfs / ext4 defaults,noatime 0 1' > /etc/fstab

# The guest agent answers on COM2, an ordinary 16550 UART, under an ordinary name (a virtio
# serial port is a PCI device only virtual machines have). Its package goes, so neither dpkg nor
# a unit name tells what it is; the libraries it links stay installed.
install -m 0755 /usr/sbin/qemu-ga /usr/sbin/serial-relay
ldd /usr/sbin/serial-relay | awk '/=> \//{print $3}' | xargs -r readlink -f | xargs -r dpkg -S 2>/dev/null \
    | cut -d: -f1 | sort -u | xargs -r apt-mark manual > /dev/null
dpkg --purge qemu-guest-agent > /dev/null
systemctl enable serial-relay.service

# Periodic jobs that only cost boot time and disk writes in short-lived guests.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
            fstrim.timer dpkg-db-backup.timer man-db.timer; do
    systemctl disable "$unit" 2>/dev/null || true
done
# Nothing here needs udev to settle; under TCG it waits for seconds.
systemctl mask systemd-udev-settle.service

# qemu's firmware configuration driver would show its device in /sys/firmware: nothing here reads it.
find /usr/lib/modules -name 'qemu_fw_cfg.ko*' -delete
for k in /usr/lib/modules/*; do depmod -a "${k##*/}"; done

# Rebuild the initrd with the short module list and the nocloud script from files/.
update-initramfs -u -k all
