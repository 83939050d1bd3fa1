set -eu
rm -f /etc/ssh/ssh_host_*
# An Internet site listening on every address; the per-guest domain comes from cloud-init.
postconf -e 'inet_interfaces = all' 'inet_protocols = ipv4' \
    'smtpd_banner = $myhostname ESMTP Postfix (Debian/GNU)' \
    'mydestination = $myhostname, $mydomain, localhost.$mydomain, localhost' \
    'mynetworks = 127.0.0.0/8' 'home_mailbox = Maildir/'
# Mailboxes that make the server look lived in.
for u in jsmith accounting helpdesk; do useradd --create-home --shell /usr/sbin/nologin "$u"; done
echo 'postmaster: root' > /etc/aliases
echo 'info: jsmith' >> /etc/aliases
newaliases
systemctl enable systemd-networkd.service
systemctl enable postfix.service
