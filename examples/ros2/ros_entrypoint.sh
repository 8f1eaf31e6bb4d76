#!/bin/bash
# Sources the workspace's install space, then runs the command.
set -e
# shellcheck disable=SC1091
source "${ROS_WS:-/opt/ros2_ws}/install/setup.bash"
exec "$@"
