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
echo '/dev/vda / ext4 defaults,noatime 0 1' > /etc/fstab

# Periodic jobs that only cost boot time and disk writes in short-lived guests.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
            fstrim.timer dpkg-db-backup.timer man-db.timer; do
    systemctl disable "$unit" 2>/dev/null || true
done
# Nothing here needs udev to settle; under TCG it waits for seconds.
systemctl mask systemd-udev-settle.service

# Rebuild the initrd with the short module list from files/.
update-initramfs -u -k all
