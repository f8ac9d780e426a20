#!/usr/bin/env bash
# Builds the Kubernetes lab binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, coredns, etcd, etcdctl, nats-server) from the pinned
# Go module lab/k8s, through the Go module proxy only, into a content-addressed cache:
#
#     /var/cache/kubedrill/bin/<hash>/      (hash: go.mod + go.sum + Go version + recipe)
#     /var/cache/kubedrill/bin/current -> <hash>
#
# The directory also gets kwok-stages.yaml (the pinned kwok's default node/pod stages,
# without which kwok refuses to start). When that directory already holds every binary nothing is built (well under 2 s).
# Progress goes to stderr; the only line on stdout is the directory, so both
#     bin=$(bash scripts/build-lab-bins.sh)
#     bin=$(bash scripts/build-lab-bins.sh | tail -1)
# work. Environment:
#     KUBEDRILL_BIN_CACHE   cache root (default /var/cache/kubedrill/bin)
#     KUBEDRILL_BUILD_NICE  nice level for go (default 19; "off" runs at normal priority)
#     GOTOOLCHAIN           default "local": the installed Go (>= 1.26) is used as is
# See lab/k8s/README.md.
set -euo pipefail

# Bump when the build flags below change, so a new recipe gets a new cache directory.
RECIPE=3

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod_dir=$(cd "$here/../lab/k8s" && pwd)
cache_root=${KUBEDRILL_BIN_CACHE:-/var/cache/kubedrill/bin}
nice_level=${KUBEDRILL_BUILD_NICE:-19}

log() { echo "build-lab-bins: $*" >&2; }
die() { log "error: $*"; exit 1; }

# name:package, in build order (the module's `tool` block lists the same packages).
targets=(
    kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver
    kube-controller-manager:k8s.io/kubernetes/cmd/kube-controller-manager
    kube-scheduler:k8s.io/kubernetes/cmd/kube-scheduler
    kubectl:k8s.io/kubernetes/cmd/kubectl
    kwok:sigs.k8s.io/kwok/cmd/kwok
    coredns:github.com/coredns/coredns
    etcd:go.etcd.io/etcd/server/v3
    etcdctl:go.etcd.io/etcd/etcdctl/v3
    nats-server:github.com/nats-io/nats-server/v2
)

# Where the official Go tarball installs, for callers with a minimal PATH.
command -v go >/dev/null 2>&1 || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null 2>&1 || die "go not found on PATH (Go >= 1.26 is needed)"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

# The one place the Kubernetes version is named: the k8s.io/kubernetes require in go.mod.
kube_version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "k8s.io/kubernetes" && $(i+1) ~ /^v[0-9]/) { print $(i+1); exit } }' "$mod_dir/go.mod")
[[ $kube_version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "no k8s.io/kubernetes v1.Y.Z require in $mod_dir/go.mod"
kube_minor=${BASH_REMATCH[1]}
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
# Every staging module must be replaced by the release matching Kubernetes.
bad=$(awk -v want="$staging_version" '$2 == "=>" && $1 ~ /^k8s\.io\// && $4 != want { print $1 " " $4 }' "$mod_dir/go.mod")
[ -z "$bad" ] || die "staging replaces not at $staging_version: $bad"

go_env=$(go env GOVERSION GOOS GOARCH) || die "go env failed"
hash=$({ printf 'recipe %s\n%s\n' "$RECIPE" "$go_env"; cat "$mod_dir/go.mod" "$mod_dir/go.sum"; } | sha256sum | cut -c1-16)
dest=$cache_root/$hash
log "Kubernetes $kube_version (staging $staging_version), $(echo $go_env | tr ' ' '/'), cache $dest"

complete() {
    local t
    for t in "${targets[@]}"; do [ -x "$1/${t%%:*}" ] || return 1; done
    [ -s "$1/kwok-stages.yaml" ]
}

point_current() {
    local link="$cache_root/.current.$$"
    ln -sfn "$hash" "$link"
    mv -Tf "$link" "$cache_root/current"
}

mkdir -p "$cache_root"
if complete "$dest"; then
    point_current
    log "up to date: all ${#targets[@]} binaries present"
    echo "$dest"
    exit 0
fi

# One build at a time per cache root; a second caller waits, then finds it done.
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
    log "waiting for another build-lab-bins to finish..."
    flock 9
fi
if complete "$dest"; then
    point_current
    log "built meanwhile by another run"
    echo "$dest"
    exit 0
fi
rm -rf "$cache_root"/.tmp-* "$dest"   # leftovers of interrupted builds (we hold the lock)

tmp=$(mktemp -d "$cache_root/.tmp-$hash-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

nice_cmd=()
if [ "$nice_level" != off ] && [ "$nice_level" != 0 ]; then nice_cmd=(nice -n "$nice_level"); fi

export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"
cd "$mod_dir"

# As upstream's hack/lib/version.sh does, so `kubectl version` and /version report the
# release (clients check the server's version). Built from the module zip, which
# carries no commit: gitCommit is left empty rather than upstream's "$Format:%H$".
build_date=$(go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)
kube_ldflags=""
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    kube_ldflags+=" -X '$pkg.gitVersion=$kube_version' -X '$pkg.gitMajor=1' -X '$pkg.gitMinor=$kube_minor'"
    kube_ldflags+=" -X '$pkg.gitCommit=' -X '$pkg.gitTreeState=archive' -X '$pkg.buildDate=${build_date:-1970-01-01T00:00:00Z}'"
done

n=${#targets[@]}
i=0
start_all=$SECONDS
for t in "${targets[@]}"; do
    i=$((i + 1))
    name=${t%%:*}
    pkg=${t#*:}
    ldflags="-s -w"
    case $name in
        kube-*|kubectl) ldflags+=$kube_ldflags ;;
        kwok) ldflags+=" -X 'sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kube_version#v}'" ;;
    esac
    log "building $name ($i/$n)..."
    start=$SECONDS
    "${nice_cmd[@]}" go build -trimpath -ldflags="$ldflags" -o "$tmp/$name" "$pkg" \
        || die "go build of $name ($pkg) failed"
    log "built $name in $((SECONDS - start)) s ($(du -m "$tmp/$name" | cut -f1) MiB)"
done

# kwok does nothing without stages (kwokctl normally supplies them): the default ones of
# the pinned kwok, as kwokctl assembles them with a node lease, for
#     kwok --config DIR/kwok-stages.yaml --node-lease-duration-seconds 40 --manage-single-node NODE
kwok_dir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [ -s "$kwok_dir/kustomize/stage/$f" ] || die "kwok stage $f missing in $kwok_dir"
    printf -- '---\n# sigs.k8s.io/kwok kustomize/stage/%s\n' "$f"
    cat "$kwok_dir/kustomize/stage/$f"
done > "$tmp/kwok-stages.yaml"

complete "$tmp" || die "internal: not every binary was built"
chmod 755 "$tmp"
mv -T "$tmp" "$dest"
trap - EXIT
point_current
log "done: ${#targets[@]} binaries in $((SECONDS - start_all)) s"
echo "$dest"
