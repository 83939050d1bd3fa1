set -eu
rm -f /etc/ssh/ssh_host_*
useradd --create-home --shell /usr/sbin/nologin office
printf 'office2020\noffice2020\n' | smbpasswd -s -a office
chown -R office:office /srv/samba/office
chmod 0755 /srv/samba/public
systemctl enable systemd-networkd.service
systemctl enable smbd.service samba-dcerpcd.service
# No NetBIOS name service: under TCG nmbd costs boot time and smbd serves 445 alone.
systemctl disable nmbd.service samba-ad-dc.service 2>/dev/null || true
