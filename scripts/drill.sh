#!/usr/bin/env bash
# The main job: install what is needed, build kubedrill, and run drills.
#   scripts/drill.sh                       local labs: the plain lab and scenarios/lab/*.yaml,
#                                          then the Kubernetes lab and the Kubernetes drills
#                                          (scenarios/kind/* that run on it, scenarios/lab-k8s/*),
#                                          then the HA claims (scenarios/ha/) as a suite
#   scripts/drill.sh --kubeconfig FILE [--context NAME] [--vars FILE]
#                                          your cluster: run scenarios/kind/*.yaml against it
#                                          (etcd-partition-member and nats-leader-kill need
#                                          setup and variables: see docs/etcd-nats.md)
# Reports land in reports/<scenario>-<UTC timestamp>/ (json, junit, md, html).
set -euo pipefail
cd "$(dirname "$0")/.."

kubeconfig=""
context=""
vars=""
while [ $# -gt 0 ]; do
    case "$1" in
        --kubeconfig) kubeconfig="$2"; shift 2 ;;
        --context) context="$2"; shift 2 ;;
        --vars) vars="$2"; shift 2 ;;
        *) echo "usage: $0 [--kubeconfig FILE [--context NAME] [--vars FILE]]" >&2; exit 2 ;;
    esac
done

bash scripts/install-deps.sh
. scripts/env.sh
cargo build --locked --bins
bin=target/debug/kubedrill

if [ -n "$kubeconfig" ]; then
    args=(--kubeconfig "$kubeconfig")
    [ -n "$context" ] && args+=(--context "$context" --allow-context "$context")
    [ -n "$vars" ] && args+=(--vars "$vars")
    status=0
    "$bin" run "${args[@]}" scenarios/kind/*.yaml || status=$?
else
    # etcd and NATS in both labs, and the Kubernetes control plane, are built from the
    # pinned Go module (lab/k8s/go.mod), cached by go.sum.
    bash scripts/build-lab-bins.sh >/dev/null
    "$bin" lab up >/dev/null
    "$bin" lab status
    status=0
    "$bin" run --vars /var/lib/kubedrill/lab/vars.yaml scenarios/lab/*.yaml || status=$?
    # Then the Kubernetes drills against a real HA control plane (binaries built from the
    # pinned Go module). The drain runs first, while the fixture has two web pods per worker.
    "$bin" lab up --kubernetes >/dev/null
    "$bin" lab status --kubernetes
    "$bin" run --vars /var/lib/kubedrill/lab-k8s/vars.yaml \
        scenarios/kind/drain-with-pdb.yaml scenarios/kind/cordon-worker.yaml \
        scenarios/kind/pod-delete-web.yaml scenarios/kind/stop-kubelet.yaml \
        scenarios/kind/etcd-partition-member.yaml scenarios/kind/control-plane-down.yaml \
        scenarios/kind/coredns-replica-loss.yaml scenarios/kind/nats-leader-kill.yaml \
        scenarios/lab-k8s/*.yaml || status=$?
    # Then the HA claims of real clusters' guides (scenarios/ha/), as one suite with its
    # index.html, junit.xml and summary.json, on their own fixtures.
    vars=/var/lib/kubedrill/lab-k8s/vars.yaml
    kubectl=$(sed -n 's/^kubectl: //p' "$vars")
    "$kubectl" --kubeconfig /var/lib/kubedrill/lab-k8s/admin.conf --context kubedrill-lab \
        apply -f scenarios/ha/fixtures/workloads.yaml >/dev/null
    # The critical-services claim needs a supervisor: the plain lab again, its services
    # restarted 2s after they die (lab up --supervise).
    "$bin" lab down >/dev/null
    "$bin" lab up --supervise=2s >/dev/null
    ha_vars=/var/lib/kubedrill/ha-vars.yaml
    { cat "$vars"
      echo "supervised_inventory: /var/lib/kubedrill/lab/inventory.yaml"
      echo "supervised_node: n1"
      echo "restart_bound: 6s"; } > "$ha_vars"
    "$bin" run --vars "$ha_vars" --suite ha scenarios/ha || status=$?
    echo "the labs stay up for more drills; remove them with: $bin lab down && $bin lab down --kubernetes"
fi
echo "reports: $(pwd)/reports"
exit "$status"
