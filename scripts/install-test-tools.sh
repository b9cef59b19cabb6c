#!/usr/bin/env bash
# Installs everything the test suite and benchmarks run for real, on a fresh Debian machine:
# Debian packages (nginx, the distribution registry, skopeo, wrk, curl, busybox for the helm-test
# script, openssl, buildah, runc, debootstrap, iproute2) and Go-built tools (helm, oras, kube-score,
# actionlint, the OCI conformance suite, the gateway fetcher) into .tools/bin
# (git-ignored, reused when already built at the pinned version); warm (Go build cache) well under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
ORAS_VERSION=v1.2.3
# kube-linter is not served by the Go module proxy this project can reach; kube-score is.
KUBE_SCORE_VERSION=v1.20.0
# Lints .github/workflows/ in the test suite.
ACTIONLINT_VERSION=v1.7.12
# The OCI distribution conformance suite (test/oci-registry.test.ts runs its pull checks against
# image/nginx.conf); its module has no tagged releases: a pinned pseudo-version.
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111

need_apt=()
# openssl: test certificates; buildah, runc, debootstrap, ip (iproute2): the image built and
# run without Docker (chroot isolation, vfs storage, a network namespace).
for pair in nginx:nginx docker-registry:docker-registry skopeo:skopeo wrk:wrk curl:curl busybox:busybox \
  openssl:openssl buildah:buildah runc:runc debootstrap:debootstrap ip:iproute2; do
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

mkdir -p .tools/bin
tools_bin="$PWD/.tools/bin"
export GOBIN="$PWD/.tools/bin" GOFLAGS=-mod=mod GOTOOLCHAIN=local

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
go_tool helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$HELM_LDFLAGS"
go_tool oras oras.land/oras oras.land/oras/cmd/oras "$ORAS_VERSION"
go_tool kube-score github.com/zegl/kube-score github.com/zegl/kube-score/cmd/kube-score "$KUBE_SCORE_VERSION"
go_tool actionlint github.com/rhysd/actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"
go_tool conformance github.com/opencontainers/distribution-spec/conformance github.com/opencontainers/distribution-spec/conformance "$CONFORMANCE_VERSION"


# The gateway's own fetcher (test/gateway-client): Istio's pkg/wasm, as Higress's pilot-agent uses it.
# Its go.mod pins istio.io/istio; the stamp is the go.mod + go.sum + sources hash so edits rebuild it.
gateway_client_stamp=$(cat test/gateway-client/go.mod test/gateway-client/go.sum test/gateway-client/*.go | sha256sum | cut -d' ' -f1)
if [ ! -x .tools/bin/gateway-client ] || [ "$(cat .tools/bin/.gateway-client.version 2>/dev/null)" != "$gateway_client_stamp" ]; then
  (cd test/gateway-client && go build -o ../../.tools/bin/gateway-client .)
  echo "$gateway_client_stamp" >.tools/bin/.gateway-client.version
fi


# The base image the runc test builds the server image on: Debian's nginx (and wget, which the
# HEALTHCHECK runs) made with debootstrap from Debian's mirror, kept as a rootfs tar (no Docker Hub).
DEBIAN_SUITE=bookworm
base_stamp=".tools/images/.debian-nginx.version"
base_want="$DEBIAN_SUITE minbase nginx,wget"
if [ ! -f .tools/images/debian-nginx-rootfs.tar ] || [ "$(cat "$base_stamp" 2>/dev/null)" != "$base_want" ]; then
  mkdir -p .tools/images
  rootfs=$(mktemp -d)
  # The Debian mirror this machine's apt already uses (sources.list or deb822 .sources).
  # (Some of these files do not exist: cat's failure must not end the script under pipefail.)
  mirror=$({ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
    sed -nE 's#^(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?|URIs:[[:space:]]+)(https?://[^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' | head -1)
  debootstrap --variant=minbase --include=nginx,wget "$DEBIAN_SUITE" "$rootfs" "${mirror:?no Debian mirror in /etc/apt/sources.list*}" >/dev/null
  tar --numeric-owner -C "$rootfs" -cf .tools/images/debian-nginx-rootfs.tar.tmp .
  mv .tools/images/debian-nginx-rootfs.tar.tmp .tools/images/debian-nginx-rootfs.tar
  rm -rf "$rootfs"
  echo "$base_want" >"$base_stamp"
fi


# The gateway's own fetcher (test/gateway-client): Istio's pkg/wasm, as Higress's pilot-agent uses it.
# Its go.mod pins istio.io/istio; the stamp is the go.mod + go.sum + sources hash so edits rebuild it.
gateway_client_stamp=$(cat test/gateway-client/go.mod test/gateway-client/go.sum test/gateway-client/*.go | sha256sum | cut -d' ' -f1)
if [ ! -x .tools/bin/gateway-client ] || [ "$(cat .tools/bin/.gateway-client.version 2>/dev/null)" != "$gateway_client_stamp" ]; then
  (cd test/gateway-client && go build -o ../../.tools/bin/gateway-client .)
  echo "$gateway_client_stamp" >.tools/bin/.gateway-client.version
fi

echo "test tools ready: $(.tools/bin/helm version --short) oras $(.tools/bin/oras version | head -1), kube-score $(cat .tools/bin/.kube-score.version)" >&2
