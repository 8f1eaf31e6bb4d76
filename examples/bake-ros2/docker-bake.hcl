# A Jetson image chain in one command, the way jetson-containers and
# osrf/docker_images stack theirs: an L4T base, a ros-core image on it, and
# the application workspace on that, all linux/arm64.
#
#   cd examples/bake-ros2 && strata bake            # builds the three, in order
#   strata bake --print                             # the resolved definition (buildx's JSON)
#   BASE_IMAGE=nvcr.io/nvidia/l4t-base:r36.2.0 strata bake   # on a Jetson: the real L4T base
#
# The default base is the Debian bookworm minbase for arm64 that
# scripts/test-images makes offline (scripts/build-example loads it).

variable "BASE_IMAGE" {
  default = "localhost/strata/debian:bookworm-arm64"
}
variable "ROS_DISTRO" {
  default = "foxy"
}
variable "REGISTRY" {
  default = "org"
}
variable "TAG" {
  default = "1.2"
}

group "default" {
  targets = ["l4t-base", "ros-core", "app"]
}

# what every image of the chain shares
target "_jetson" {
  platforms = ["linux/arm64"]
  labels = {
    "org.opencontainers.image.source" = "https://example.invalid/strata/examples/bake-ros2"
  }
}

target "l4t-base" {
  inherits = ["_jetson"]
  context  = "l4t-base"
  args     = { BASE_IMAGE = BASE_IMAGE }
  tags     = ["${REGISTRY}/l4t-base:${TAG}"]
}

# FROM l4t-base in its Dockerfile is the image the l4t-base target built in
# this run (a named context), whatever the registry or the store holds
target "ros-core" {
  inherits = ["_jetson"]
  context  = "ros-core"
  contexts = { l4t-base = "target:l4t-base" }
  args     = { ROS_DISTRO = ROS_DISTRO }
  tags     = ["${REGISTRY}/ros-${ROS_DISTRO}-core:${TAG}"]
}

# BASE_IMAGE names ros-core's tag, as jetson-containers passes its chain:
# strata bake sees that, builds ros-core first and hands its image over
target "app" {
  inherits = ["_jetson"]
  context  = "app"
  contexts = { ws = "../ros2" }
  args     = { BASE_IMAGE = "${REGISTRY}/ros-${ROS_DISTRO}-core:${TAG}" }
  tags     = ["${REGISTRY}/ros-${ROS_DISTRO}-app:${TAG}"]
}
