set -eu
rm -f /etc/ssh/ssh_host_*
rm -f /var/www/html/index.nginx-debian.html
chown -R root:root /var/www/html
systemctl enable systemd-networkd.service
systemctl enable nginx.service
