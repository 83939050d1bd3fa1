set -eu
# Host keys must differ per guest: cloud-init generates them on first boot.
rm -f /etc/ssh/ssh_host_*
# cloud-init renders the network-config for systemd-networkd (no ifupdown, no netplan here).
systemctl enable systemd-networkd.service
systemctl enable named.service
