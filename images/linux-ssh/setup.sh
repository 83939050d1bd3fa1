set -eu
# Host keys must differ per guest: cloud-init generates them on first boot.
rm -f /etc/ssh/ssh_host_*
# The weak account brute-force studies look for: a plausible admin user with a guessable password.
useradd --create-home --shell /bin/bash --comment "Site Admin" --groups sudo admin
echo 'admin:admin123' | chpasswd
systemctl enable systemd-networkd.service
systemctl enable ssh.service
