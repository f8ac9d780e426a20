#!/usr/bin/env bash
# Writes what scenarios/kind/*.yaml need from a kind cluster (kind-config.yaml: three
# control-plane nodes and three workers), into the current directory:
#   kind-inventory.yaml  node access (docker exec) and the etcd members' endpoints at the
#                        containers' addresses
#   kind-pki/            the etcd CA and a client identity copied out of a control-plane node
#   kind-vars.yaml       every variable the kind scenarios use (pass it with --vars)
# The Kubernetes lab writes the same variables to /var/lib/kubedrill/lab-k8s/vars.yaml.
# usage: scripts/kind-vars.sh [CLUSTER]   (default: drill, context kind-CLUSTER)
set -euo pipefail
cluster="${1:-drill}"
ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
cps=("$cluster-control-plane" "$cluster-control-plane2" "$cluster-control-plane3")
workers=("$cluster-worker" "$cluster-worker2" "$cluster-worker3")

rm -rf kind-pki
docker cp "${cps[0]}:/etc/kubernetes/pki/etcd" ./kind-pki

{
    echo "nodes:"
    for n in "${cps[@]}"; do
        a=$(ip "$n")
        cat <<NODE
  - name: $n
    roles: [control-plane, etcd]
    address: $a
    access: { docker: { container: $n } }
    services:
      etcd:
        name: $n
        endpoints: { client: "https://$a:2379", peer: "https://$a:2380" }
NODE
    done
    for n in "${workers[@]}"; do
        cat <<NODE
  - name: $n
    roles: [worker]
    address: $(ip "$n")
    access: { docker: { container: $n } }
NODE
    done
} >kind-inventory.yaml

{
    echo "context: kind-$cluster"
    echo "cluster: $cluster"
    echo "inventory: $PWD/kind-inventory.yaml"
    echo "pki: $PWD/kind-pki"
    for i in 1 2 3; do
        echo "control_plane_$i: ${cps[$((i - 1))]}"
        echo "cp${i}_ip: $(ip "${cps[$((i - 1))]}")"
        echo "worker_$i: ${workers[$((i - 1))]}"
    done
    echo "control_plane_down: docker stop ${cps[1]}"
    echo "control_plane_up: docker start ${cps[1]}"
} >kind-vars.yaml
cat kind-vars.yaml
