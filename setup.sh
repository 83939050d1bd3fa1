#!/usr/bin/env bash
# Prepare this Debian 12 host for vhoneynet, idempotently: Debian packages, the virtualenv,
# libvirtd/virtlogd (started here when no service manager runs them), and the guest images
# (built once, then cached by recipe hash). Run as root. `./setup.sh --no-images` skips images.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
  debootstrap e2fsprogs dosfstools mtools genisoimage nftables iproute2 libxml2-utils
  tcpdump tshark bind9-dnsutils curl traceroute iputils-ping netcat-openbsd python3-venv
  postgresql openssl
  graphviz smbclient mariadb-client openssh-client tini
  syslinux syslinux-common  # the tests make a self-booting cloud-style disk
  ovmf swtpm swtpm-tools  # UEFI guests (Windows honeypots, the tests' stand-in) and their TPM
  chromium  # the report's browser tests (driven by playwright, installed with the test extra)
)
IMAGES=(honeywall linux-dns linux-web linux-ssh linux-mail linux-db linux-smb)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root" >&2; exit 1; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/vhoneynet ] || [ pyproject.toml -nt .venv/.installed ]; then
  say "virtualenv .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch .venv/.installed
fi

# Without udev, /dev/kvm stays root-only; libvirt then finds KVM "gone" on every call and
# re-probes qemu for minutes before each domain start. Give it Debian's usual group and mode.
if [ -c /dev/kvm ] && [ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ] && getent group kvm >/dev/null; then
  say "/dev/kvm: group kvm, mode 660 (as Debian's udev rule sets it)"
  chgrp kvm /dev/kvm && chmod 660 /dev/kvm
fi

if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    say "starting libvirtd (systemd)"
    systemctl start virtlogd libvirtd
  else
    say "starting virtlogd and libvirtd (no service manager)"
    pgrep -x virtlogd >/dev/null || virtlogd -d
    # libvirtd daemonises each qemu, so a qemu that ends is reaped by whoever adopts it, and
    # libvirt's destroy waits until it is. Without a service manager that is the container's
    # init, which may reap only every few seconds; tini -s adopts and reaps them at once.
    pgrep -x libvirtd >/dev/null || setsid -f tini -s -- libvirtd </dev/null >>/var/log/libvirt/libvirtd.log 2>&1
  fi
  for _ in $(seq 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
  virsh -c qemu:///system version >/dev/null
fi

if [ "${1:-}" != "--no-images" ]; then
  for image in "${IMAGES[@]}"; do
    .venv/bin/vhoneynet image build "$image"
  done
fi
say "host ready"
.venv/bin/vhoneynet host check
