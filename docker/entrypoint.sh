#!/bin/bash
# Entry point of the hand_mesh images: ROS, the Python venv and the built workspace, then
# the command (default: the demo launch file).
set -e
# shellcheck source=/dev/null
source "/opt/ros/${ROS_DISTRO}/setup.bash"
# shellcheck source=/dev/null
source "${HAND_MESH_VENV}/bin/activate"
# shellcheck source=/dev/null
source /opt/hand_mesh/ws/install/setup.bash
exec "$@"
