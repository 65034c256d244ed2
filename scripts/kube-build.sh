#!/usr/bin/env bash
# Build (or reuse) real Kubernetes API servers from Debian sources, for the test suite's real-server tier.
#   kube-apiserver + kube-controller-manager 1.20.2: bookworm's `kubernetes` source package.
#   apiextensions-apiserver 0.36.x (Kubernetes 1.36's CRD server: CEL, defaulting, pruning): sid's -dev packages.
#   etcd: Debian's etcd-server.
# No registry ships these binaries, so they are built here and cached OUTSIDE the clone, keyed by version:
#   $STJOB_KUBE_CACHE (default ~/.cache/stjob/kube-<versions>/bin). A warm cache makes this a no-op.
# The Debian mirror is read from the system's apt sources; no host name is written here.
# Usage: scripts/kube-build.sh          prints the bin directory on its last line.
set -euo pipefail
K8S_SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1
K8S_TAG=1.20.2
APIEXT_PKG=golang-k8s-apiextensions-apiserver-dev
CACHE_ROOT=${STJOB_KUBE_CACHE:-$HOME/.cache/stjob}
BIN=$CACHE_ROOT/kube-$K8S_TAG-apiext-sid/bin
W=$CACHE_ROOT/kube-build   # ~5 GB while building; removed afterwards

log() { echo "[kube-build] $*" >&2; }
need_root() { [ "$(id -u)" = 0 ] || { log "needs root for apt-get (or a warm cache at $BIN)"; exit 1; }; }

# Debian packages the servers and the tests need at run time (quick when already installed).
if ! command -v etcd >/dev/null || ! command -v openssl >/dev/null; then
  need_root
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server openssl >/dev/null
fi

have_all() { [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/apiextensions-apiserver" ]; }
if have_all; then log "cached: $BIN"; echo "$BIN"; exit 0; fi
# One build at a time (make kube and a test session may both ask): the second waits, then reuses.
mkdir -p "$CACHE_ROOT"; exec 9>"$CACHE_ROOT/kube-build.lock"; flock 9
if have_all; then log "cached: $BIN"; echo "$BIN"; exit 0; fi
need_root
mkdir -p "$BIN" "$W"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
log "mirror from apt sources: $MIRROR"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go rsync golang-github-modern-go-reflect2-dev >/dev/null

build_apiserver() {
  [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && return 0
  local A=$W/apt-src; mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$W/src"
  echo "deb-src [signed-by=$KEYRING] $MIRROR bookworm main" > "$A/sources.list"
  local O=(-o "Dir::Etc::sourcelist=$A/sources.list" -o Dir::Etc::sourceparts=/nonexistent
           -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache")
  apt-get "${O[@]}" update -qq
  (cd "$W/src" && apt-get "${O[@]}" source --download-only -qq "kubernetes=$K8S_SRC_VERSION" >/dev/null 2>&1)
  (cd "$W/src" && rm -rf "kubernetes-$K8S_TAG" && tar xzf kubernetes_*.orig.tar.gz)
  cd "$W/src/kubernetes-$K8S_TAG"
  # Go 1.19 segfaults with the vendored reflect2 1.0.1 at the first CRD use: take Debian's 1.0.2.
  local V=vendor/github.com/modern-go/reflect2 D=/usr/share/gocode/src/github.com/modern-go/reflect2
  rm -f $V/*.go $V/*.s; cp $D/*.go $D/*.s $V/
  mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
  log "building kube-apiserver + kube-controller-manager $K8S_TAG (log: $W/build-k8s.log)"
  env -u GOFLAGS GOPATH="$PWD/.go" CGO_ENABLED=0 HOME="$W/home" GOCACHE="$W/gocache" \
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$W/build-k8s.log" 2>&1
  cp _output/bin/kube-apiserver _output/bin/kube-controller-manager "$BIN/"
}

build_apiext() {
  [ -x "$BIN/apiextensions-apiserver" ] && return 0
  local S=$W/sid; mkdir -p "$S/lists/partial" "$S/cache/archives/partial" "$S/debs" "$S/root"; : > "$S/status"
  echo "deb [signed-by=$KEYRING] $MIRROR sid main" > "$S/sources.list"
  local O=(-o "Dir::Etc::sourcelist=$S/sources.list" -o Dir::Etc::sourceparts=/nonexistent
           -o "Dir::State::Lists=$S/lists" -o "Dir::Cache=$S/cache" -o "Dir::State::status=$S/status"
           -o Debug::NoLocking=1)
  apt-get "${O[@]}" update -qq
  apt-get "${O[@]}" install -s -o APT::Install-Recommends=false "$APIEXT_PKG" golang-go \
    | awk '/^Inst golang-/{print $2}' > "$S/pkgs.txt"
  (cd "$S/debs" && apt-get "${O[@]}" download -qq $(cat "$S/pkgs.txt") >/dev/null 2>&1)
  for d in "$S"/debs/*.deb; do dpkg -x "$d" "$S/root"; done
  local GR; GR=$(ls -d "$S"/root/usr/lib/go-1.* | sort -V | tail -1)
  log "building apiextensions-apiserver with $(basename "$GR") (unpacked, not installed)"
  (cd "$S/root/usr/share/gocode/src/k8s.io/apiextensions-apiserver" && \
    env -u GOFLAGS GOROOT="$GR" GOPATH="$S/root/usr/share/gocode" GO111MODULE=off GOTOOLCHAIN=local \
    CGO_ENABLED=0 GOCACHE="$W/gocache2" "$GR/bin/go" build -o "$BIN/apiextensions-apiserver" .)
  # the version this server reports, for the test tier's records
  ls "$S"/debs | grep -o "${APIEXT_PKG}_[^_]*" | head -1 > "$BIN/apiextensions-apiserver.version" || true
}

build_apiext
build_apiserver
rm -rf "$W"
log "built: $BIN"
echo "$BIN"
