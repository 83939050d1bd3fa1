set -eu
systemctl disable suricata.service 2>/dev/null || true
systemctl enable vhn-gateway.service
