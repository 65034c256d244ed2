#!/usr/bin/env bash
# `make images`: build the operator and trainer images from the committed Dockerfiles, without Docker or
# a registry: buildah (chroot isolation) for builds, podman for runs, a Debian base made by mmdebstrap.
#
#   scripts/images.sh          build (or reuse) everything; the last lines are KEY=VALUE settings
#   scripts/images.sh env      only print those settings (what tests need to run the images)
#
# Everything cached lives OUTSIDE the clone, in $STJOB_IMAGE_CACHE (default ~/.cache/stjob/images):
# the container storage (buildah's layer cache makes a second run a no-op), the base tarball keyed by
# its package list and apt sources, the configuration files and build logs.
# Nothing here names a host: the Debian mirror comes from the system's apt sources, the Python package
# sources (the local CPU torch wheel among them) from the host's pip configuration.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${STJOB_IMAGE_CACHE:-$HOME/.cache/stjob/images}
TAG=${STJOB_IMAGE_TAG:-dev}
OPERATOR_IMAGE=localhost/stjob/operator:$TAG
TRAINER_IMAGE=localhost/stjob/trainer:$TAG
# What the Dockerfiles need from their base (`python`, `python -m venv`, groupadd/useradd), standing in
# for python:3.11.14-slim-bookworm; it goes in as the PYTHON_IMAGE build argument.
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates
APT_PACKAGES=(buildah podman runc mmdebstrap)

settings() {
  cat <<EOF
CONTAINERS_CONF=$CACHE/containers.conf
CONTAINERS_STORAGE_CONF=$CACHE/storage.conf
STJOB_OPERATOR_IMAGE=$OPERATOR_IMAGE
STJOB_TRAINER_IMAGE=$TRAINER_IMAGE
EOF
}
if [ "${1:-build}" = env ]; then settings; exit 0; fi

exec 3>&2   # progress lines stay on the terminal while each step's own output goes to its log
log() { echo "[images] $*" >&3; }
timed() { local label=$1 s=$SECONDS; shift; "$@"; log "$label: $(( SECONDS - s ))s"; }
mkdir -p "$CACHE/logs"
exec 9>"$CACHE/lock"; flock 9   # one build at a time (parallel test sessions share the storage)

missing=(); for p in "${APT_PACKAGES[@]}"; do command -v "$p" >/dev/null || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "needs root to apt-get install ${missing[*]}"; exit 1; }
  timed apt-get env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
    --no-install-recommends "${APT_PACKAGES[@]}" >"$CACHE/logs/apt.log"
fi

# Storage and runtime settings, used through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF only (the
# host's own /etc/containers stays untouched). runc + cgroupfs: crun fails on this host's hybrid
# cgroups; explicit ulimits: podman's defaults are not permitted without CAP_SYS_RESOURCE.
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' "$CACHE" "$CACHE" \
  >"$CACHE/storage.conf"
printf '%s\n' '[containers]' 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' \
  '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' >"$CACHE/containers.conf"
export CONTAINERS_CONF=$CACHE/containers.conf CONTAINERS_STORAGE_CONF=$CACHE/storage.conf

# The base: a Debian minbase with Python, from the same apt sources as this machine.
SOURCES=(); for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -s "$f" ] && grep -q '^[^#]' "$f" && SOURCES+=("$f")
done
[ ${#SOURCES[@]} -gt 0 ] || { log "no apt sources found under /etc/apt"; exit 1; }
KEY=$( { echo "$SUITE $BASE_PACKAGES"; cat "${SOURCES[@]}"; } | sha256sum | cut -c1-12)
BASE_IMAGE=localhost/stjob/python-base:$SUITE-$KEY
BASE_TAR=$CACHE/base-$SUITE-$KEY.tar
if ! podman image exists "$BASE_IMAGE"; then
  if [ ! -s "$BASE_TAR" ]; then
    log "mmdebstrap $SUITE + $BASE_PACKAGES (log: $CACHE/logs/mmdebstrap.log)"
    timed mmdebstrap nice -n 19 mmdebstrap --mode=root --format=tar --variant=minbase --include="$BASE_PACKAGES" \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' "$SUITE" "$BASE_TAR.part" "${SOURCES[@]}" \
      2>"$CACHE/logs/mmdebstrap.log"
    mv "$BASE_TAR.part" "$BASE_TAR"
  fi
  timed "podman import" podman import -q "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi

# pip inside RUN steps sees none of the host's pip settings: hand it the same ones, read-only, for the
# build only (nothing lands in the images). `find-links` is where this machine keeps the CPU torch
# wheel; without it the trainer image would pull the multi-GB CUDA build.
pip_setting() {  # the environment variable wins over the config files, as for pip itself
  local env_name="PIP_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  [ -n "${!env_name:-}" ] && { echo "${!env_name}"; return; }
  python3 -m pip config get "global.$1" 2>/dev/null || true
}
PIP_CONF=$CACHE/pip.conf; MOUNTS=(); declare -A MOUNTED=()
mount_ro() { [ -e "$1" ] && [ -z "${MOUNTED[$1]:-}" ] && { MOUNTED[$1]=1; MOUNTS+=(-v "$1:$1:ro"); }; return 0; }
echo '[global]' >"$PIP_CONF"
for opt in index-url extra-index-url find-links cert constraint trusted-host; do
  value=$(pip_setting "$opt"); [ -n "$value" ] || continue
  echo "$opt = $value" >>"$PIP_CONF"
  for item in $value; do
    path=${item#file://}
    # a local "simple" index links its files as ../../files/...: mount the folder above it
    if [ "$path" != "$item" ] && [ "$(basename "$path")" = simple ]; then path=$(dirname "$path"); fi
    case $path in /*) mount_ro "$path" ;; esac
  done
done

BUILD=(nice -n 19 buildah bud --isolation chroot --network host --layers --pull=never
       --build-arg "PYTHON_IMAGE=$BASE_IMAGE" -v "$PIP_CONF:/etc/pip.conf:ro" "${MOUNTS[@]}")
build() {  # name dockerfile image
  local previous; previous=$(podman image inspect --format '{{.Id}}' "$3" 2>/dev/null || true)
  log "building $3 (log: $CACHE/logs/build-$1.log)"
  timed "$3" "${BUILD[@]}" -f "$REPO/$2" -t "$3" "$REPO" >"$CACHE/logs/build-$1.log" 2>&1 \
    || { tail -30 "$CACHE/logs/build-$1.log" >&2; exit 1; }
  # Drop the image this one replaced (and its own cache layers), not `image prune`: that would also
  # drop the untagged intermediate images that ARE the layer cache.
  if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$3")" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
  fi
}
build operator Dockerfile "$OPERATOR_IMAGE"
build trainer trainer_image/Dockerfile "$TRAINER_IMAGE"
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^localhost/stjob/' >&2
settings
