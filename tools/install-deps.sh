#!/usr/bin/env bash
# Installs the system libraries LipSync builds against, only if any is missing (Debian/Ubuntu).
set -euo pipefail
pkgs=(libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
      libfftw3-dev libopenblas-dev libdnnl-dev pkg-config ffmpeg)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi
