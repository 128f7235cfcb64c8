#!/usr/bin/env bash
# System packages the detector and its tests need (Debian / Raspberry Pi OS). Idempotent.
set -euo pipefail
pkgs=(mosquitto mosquitto-clients libportaudio2 libsndfile1 openssl systemd chromium chromium-driver curl
      qemu-user-static debootstrap)  # the last two: make pi-check (an arm64 userland under emulation)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The broker is started by the tests on a loopback port; the packaged service is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then :; fi
echo "system packages ok: ${pkgs[*]}"
