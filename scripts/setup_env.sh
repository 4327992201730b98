#!/usr/bin/env bash
# Prepare everything `make demo` and `make test` need, on a fresh clone.
#
# * No ROS sourced (no ROS_DISTRO): create .venv, install the real ROS 2 (Kilted) client
#   stack from its PyPI wheels (requirements/ros.txt), rewrite the wheels' CMake exports
#   (scripts/fix_ros_wheel_cmake.py), install the project's Python dependencies.
# * ROS_DISTRO set (Humble / Jazzy sourced from the ROS apt repositories): create .venv with
#   --system-site-packages so the sourced rclpy stays visible, install only the project's
#   Python dependencies.
#
# Idempotent: a stamp file records a hash of the inputs; when it matches and the
# environment imports, nothing is installed again. A run that was interrupted leaves no
# stamp, so the next run repairs the environment (pip is re-run, a broken venv is rebuilt).
#
# Environment knobs:
#   HAND_MESH_VENV         venv location (default: <repo>/.venv)
#   HAND_MESH_TORCH_INDEX  extra pip index for torch, e.g. https://download.pytorch.org/whl/cpu
#                          on a CPU machine elsewhere (these machines carry a local CPU wheel)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HAND_MESH_VENV:-$repo/.venv}"
req="$repo/requirements"
stamp="$venv/.hand_mesh_setup_stamp"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- tools the setup cannot install itself --------------------------------------------
need_tool() {  # need_tool <command> <what to install>
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found. Install it first: $2"
}
need_tool python3 "sudo apt-get install python3"
need_tool cmake "sudo apt-get install cmake   (colcon builds hand_mesh_msgs with CMake >= 3.16)"
need_tool make "sudo apt-get install make"
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
  die "no C compiler found. Install one first: sudo apt-get install build-essential"
fi
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 \
  || die "no C++ compiler found. Install one first: sudo apt-get install g++"
python3 - <<'EOF' || die "Python 3.10-3.12 is required (found $(python3 --version 2>&1))."
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)
EOF
python3 -c "import ensurepip, venv" 2>/dev/null \
  || die "python3-venv is missing. Install it first: sudo apt-get install python3-venv"
python3 -c "import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')) else 1)" \
  || die "Python headers are missing (Python.h). Install them first: sudo apt-get install python3-dev"

mode="pypi-ros"
[ -n "${ROS_DISTRO:-}" ] && mode="sourced-ros-${ROS_DISTRO}"
pyver="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"

inputs_hash="$( { echo "$mode $pyver ${HAND_MESH_TORCH_INDEX:-}"; cat "$req"/*.txt "$0" "$repo/scripts/fix_ros_wheel_cmake.py"; } | sha256sum | cut -d' ' -f1)"

venv_healthy() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, numpy, cv2, mediapipe, rclpy" >/dev/null 2>&1
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs_hash" ] && venv_healthy; then
  say "environment up to date ($venv, $mode)"
  exit 0
fi

# --- the virtual environment -------------------------------------------------------------
if [ -d "$venv" ] && ! "$venv/bin/python" -c "import sys" >/dev/null 2>&1; then
  say "removing broken virtual environment $venv"
  rm -rf "$venv"
fi
if [ ! -d "$venv" ]; then
  say "creating virtual environment $venv ($mode, Python $pyver)"
  if [ "$mode" = "pypi-ros" ]; then
    python3 -m venv "$venv"
  else
    python3 -m venv --system-site-packages "$venv"
  fi
fi
rm -f "$stamp"
py="$venv/bin/python"
# (the grep drops pip's warnings about this workplace's absent file:// mirrors)
pip_install() {
  "$py" -m pip install --disable-pip-version-check --progress-bar off -q "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}

# exact pins are made for Python 3.11 (these machines and CI); other versions use the ranges
constraints=()
if [ "$pyver" = "3.11" ]; then
  constraints=(-c "$req/constraints.txt")
else
  say "Python $pyver: installing from the version ranges (exact pins are for Python 3.11)"
fi

say "installing torch 2.13.0"
torch_args=(torch==2.13.0)
[ -n "${HAND_MESH_TORCH_INDEX:-}" ] && torch_args+=(--extra-index-url "$HAND_MESH_TORCH_INDEX")
pip_install "${torch_args[@]}"

if [ "$mode" = "pypi-ros" ]; then
  say "installing ROS 2 Kilted from PyPI wheels"
  pip_install "${constraints[@]}" -r "$req/ros.txt"
fi

say "installing project dependencies"
pip_install "${constraints[@]}" -r "$req/python.txt"
pip_install --no-deps "${constraints[@]}" -r "$req/mediapipe.txt"

if [ "$mode" = "pypi-ros" ]; then
  say "rewriting the ROS wheels' CMake exports for this machine"
  "$py" "$repo/scripts/fix_ros_wheel_cmake.py" "$venv"
fi

venv_healthy || die "the environment does not import (torch, numpy, cv2, mediapipe, rclpy); see the pip output above"
echo "$inputs_hash" > "$stamp"
say "done ($venv)"
