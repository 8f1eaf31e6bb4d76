// A deterministic corpus of realistic Dockerfiles for the parser benchmarks:
// multi-stage builds, long RUN chains with continuations, ENV/LABEL lists,
// COPY --from, heredocs, exec-form CMD/ENTRYPOINT, comments and directives.

/** mulberry32: a small seeded PRNG, so every run parses the same corpus. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASES = ['ubuntu:22.04', 'debian:bookworm-slim', 'alpine:3.19', 'golang:1.22', 'node:20-bookworm', 'python:3.12-slim', 'nvcr.io/nvidia/l4t-base:r36.2.0', 'ros:humble-ros-base'];
const PACKAGES = ['build-essential', 'cmake', 'git', 'curl', 'ca-certificates', 'python3-pip', 'libssl-dev', 'pkg-config', 'ninja-build', 'libboost-all-dev', 'python3-colcon-common-extensions', 'ros-humble-rclcpp', 'ros-humble-sensor-msgs', 'libopencv-dev', 'wget', 'unzip', 'gnupg', 'lsb-release'];

function pick(rand, list) {
  return list[Math.floor(rand() * list.length)];
}

function stage(rand, index, last) {
  const name = `stage${index}`;
  const lines = [];
  lines.push(`# --- ${name}: ${pick(rand, ['build tools', 'dependencies', 'workspace', 'runtime'])} ---`);
  lines.push(`FROM --platform=$BUILDPLATFORM ${pick(rand, BASES)} AS ${name}`);
  lines.push(`ARG DEBIAN_FRONTEND=noninteractive ROS_DISTRO=humble VERSION="1.${index}.0"`);
  lines.push(`ENV LANG=C.UTF-8 \\\n    LC_ALL=C.UTF-8 \\\n    PATH="/opt/ros/humble/bin:$PATH" \\\n    WORKSPACE=/ws/${name}`);
  lines.push(`LABEL org.opencontainers.image.title="${name}" org.opencontainers.image.version="1.${index}" maintainer="robots@example.com"`);
  const chain = ['apt-get update'];
  const count = 4 + Math.floor(rand() * 10);
  for (let i = 0; i < count; i++) chain.push(`apt-get install -y --no-install-recommends ${pick(rand, PACKAGES)} ${pick(rand, PACKAGES)}`);
  chain.push('rm -rf /var/lib/apt/lists/*');
  lines.push(`RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n    ${chain.join(' \\\n    && ')}`);
  lines.push(`WORKDIR /ws/${name}`);
  if (index > 0) lines.push(`COPY --from=stage${index - 1} --chown=1000:1000 /ws/stage${index - 1}/install /opt/stage${index - 1}`);
  lines.push(`COPY src/ package.json requirements.txt ./`);
  if (rand() < 0.6) {
    lines.push(`RUN <<EOF\nset -eux\npython3 -m pip install --no-cache-dir -r requirements.txt\ncolcon build --symlink-install --cmake-args -DCMAKE_BUILD_TYPE=Release\nEOF`);
  }
  if (rand() < 0.4) {
    lines.push(`COPY <<-"CONF" /etc/${name}.conf\n\tlisten 0.0.0.0:${8000 + index}\n\tworkers ${1 + Math.floor(rand() * 8)}\n\tCONF`);
  }
  lines.push(`RUN ["/bin/bash", "-c", "source /opt/ros/humble/setup.bash && echo ready ${index}"]`);
  if (last) {
    lines.push('EXPOSE 8080/tcp 9090/udp');
    lines.push('USER 1000:1000');
    lines.push('HEALTHCHECK --interval=30s --timeout=5s CMD curl -fsS http://localhost:8080/health || exit 1');
    lines.push('ENTRYPOINT ["/ros_entrypoint.sh"]');
    lines.push('CMD ["ros2", "launch", "robot", "bringup.launch.py"]');
  }
  return lines.join('\n');
}

/** One realistic Dockerfile. */
export function dockerfile(rand) {
  const stages = 1 + Math.floor(rand() * 5);
  const parts = ['# syntax=docker/dockerfile:1', 'ARG BASE_TAG=22.04', ''];
  for (let i = 0; i < stages; i++) parts.push(stage(rand, i, i === stages - 1), '');
  return parts.join('\n');
}

/** `count` Dockerfiles from `seed`. */
export function corpus(count, seed = 42) {
  const rand = prng(seed);
  return Array.from({ length: count }, () => dockerfile(rand));
}
