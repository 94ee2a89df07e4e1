#!/usr/bin/env bash
# Install OsteoPlan into ./.venv on a Debian machine, with the system libraries
# Qt and VTK need to render (offscreen or on a desktop).
#   bash packaging/setup-dev.sh          # the application
#   bash packaging/setup-dev.sh --test   # the application and the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

# System packages: Python's venv module, and the GL/EGL/X libraries PySide6 and VTK load.
system_packages=(python3 python3-venv python3-pip libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri
  libglx-mesa0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 libxrender1 libxi6 libsm6 libice6)
if command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # python3/python3-venv are not needed when another Python 3.11+ with venv is on PATH.
  if python3 -c 'import venv, ensurepip, sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    filtered=()
    for p in "${missing[@]}"; do case "$p" in python3|python3-venv|python3-pip) ;; *) filtered+=("$p");; esac; done
    missing=("${filtered[@]}")
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ]; then
      echo "Installing system packages: ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "Please install these Debian packages first (as root): apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras}"
