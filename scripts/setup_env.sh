#!/usr/bin/env bash
# Prepare everything `make demo` and `make test` need, on a fresh clone.
#
# * No ROS sourced (no ROS_DISTRO): create the venv, install a real ROS 2 client stack from
#   its PyPI wheels, rewrite the wheels' CMake exports (scripts/fix_ros_wheel_cmake.py),
#   install the project's Python dependencies. Which ROS 2: HAND_MESH_ROS_DISTRO, one of
#     jazzy   (default) the ros-jazzy-* wheels, requirements/ros-jazzy.txt + constraints-jazzy.txt
#     kilted            the ros-* wheels,       requirements/ros-kilted.txt + constraints-kilted.txt
#   One venv holds one distribution (both share the ros-<package> wheel names): a venv that
#   holds another distribution is rebuilt from scratch.
# * ROS_DISTRO set (Humble / Jazzy sourced from the ROS apt repositories): create the venv
#   with --system-site-packages so the sourced rclpy stays visible, install only the
#   project's Python dependencies (HAND_MESH_ROS_DISTRO is not used).
#
# The venv records what it holds in $venv/hand_mesh_ros_distro (one line: the distribution
# and where it comes from, e.g. "jazzy pypi"); `hand-mesh info` prints it.
#
# Idempotent: a stamp file records a hash of the inputs (the distribution choice, Python
# version, requirements, this script); when it matches and the environment imports,
# nothing is installed again. A run that was interrupted leaves no stamp, so the next run
# repairs the environment (pip is re-run, a broken venv is rebuilt).
#
# Environment knobs:
#   HAND_MESH_VENV         venv location (default: <repo>/.venv)
#   HAND_MESH_ROS_DISTRO   ROS 2 from PyPI when none is sourced: jazzy (default) or kilted
#   HAND_MESH_SMPLX        1 (default): install smplx for the MANO parity test (a test-only
#                          package under a non-commercial licence); 0: leave it out (images)
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

# what the venv holds: "<distro> pypi" or "<distro> sourced"
if [ -n "${ROS_DISTRO:-}" ]; then
  ros_source="sourced"
  distro="$ROS_DISTRO"
else
  ros_source="pypi"
  distro="${HAND_MESH_ROS_DISTRO:-jazzy}"
  case "$distro" in
    jazzy|kilted) ;;
    *) die "HAND_MESH_ROS_DISTRO=$distro: the PyPI ROS 2 wheels exist for jazzy (default) and kilted (Humble is not on PyPI; source it instead)" ;;
  esac
fi
mode="$distro $ros_source"
distro_record="$venv/hand_mesh_ros_distro"
pyver="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"

with_smplx="${HAND_MESH_SMPLX:-1}"
inputs_hash="$( { echo "$mode $pyver ${HAND_MESH_TORCH_INDEX:-} smplx=$with_smplx"; cat "$req"/*.txt "$0" "$repo/scripts/fix_ros_wheel_cmake.py"; } | sha256sum | cut -d' ' -f1)"

venv_healthy() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, numpy, cv2, mediapipe, rclpy" >/dev/null 2>&1 \
    && [ "$(cat "$distro_record" 2>/dev/null)" = "$mode" ]
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs_hash" ] && venv_healthy; then
  say "environment up to date ($venv, $mode)"
  exit 0
fi

# --- the virtual environment -------------------------------------------------------------
if [ -d "$venv" ] && ! "$venv/bin/python" -c "import sys" >/dev/null 2>&1; then
  say "removing broken virtual environment $venv"
  rm -rf "$venv"
elif [ -d "$venv" ] && [ "$(cat "$distro_record" 2>/dev/null)" != "$mode" ]; then
  say "$venv holds $(cat "$distro_record" 2>/dev/null || echo 'an unrecorded ROS 2'), not $mode: rebuilding it"
  rm -rf "$venv"
fi
if [ ! -d "$venv" ]; then
  say "creating virtual environment $venv ($mode, Python $pyver)"
  if [ "$ros_source" = "pypi" ]; then
    python3 -m venv "$venv"
  else
    python3 -m venv --system-site-packages "$venv"
  fi
fi
rm -f "$stamp"
echo "$mode" > "$distro_record"
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
  [ "$ros_source" = "pypi" ] && constraints+=(-c "$req/constraints-$distro.txt")
else
  say "Python $pyver: installing from the version ranges (exact pins are for Python 3.11)"
fi

say "installing torch 2.13.0"
torch_args=(torch==2.13.0)
[ -n "${HAND_MESH_TORCH_INDEX:-}" ] && torch_args+=(--extra-index-url "$HAND_MESH_TORCH_INDEX")
pip_install "${torch_args[@]}"

if [ "$ros_source" = "pypi" ]; then
  say "installing ROS 2 $distro from PyPI wheels (requirements/ros-$distro.txt)"
  pip_install "${constraints[@]}" -r "$req/ros-$distro.txt"
fi

say "installing project dependencies"
pip_install "${constraints[@]}" -r "$req/python.txt"
pip_install --no-deps "${constraints[@]}" -r "$req/mediapipe.txt"
if [ "$with_smplx" = "1" ]; then
  say "installing smplx (test environment only: the MANO parity test)"
  pip_install --no-deps "${constraints[@]}" -r "$req/smplx.txt"
fi

if [ "$ros_source" = "pypi" ]; then
  say "rewriting the ROS wheels' CMake exports for this machine"
  "$py" "$repo/scripts/fix_ros_wheel_cmake.py" "$venv"
fi

venv_healthy || die "the environment does not import (torch, numpy, cv2, mediapipe, rclpy); see the pip output above"
echo "$inputs_hash" > "$stamp"
say "done ($venv: ROS 2 $mode, rclpy $("$py" -c 'import importlib.metadata as m; print(m.version("ros-rclpy"))' 2>/dev/null || echo sourced))"
