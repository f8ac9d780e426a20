//! The integration test binary (one binary keeps link time down); each module is one area.

mod common;
mod drill_lab;
mod engine_e2e;
mod engine_outcomes;
mod etcd_partition;
mod kind_e2e;
mod kube_cordon;
mod kube_drain;
mod kube_fixture;
mod kube_oracle_compare;
mod kube_probes;
mod lab_fixture;
mod lab_k8s_scenarios;
mod lab_kubelet;
mod lab_kubernetes;
mod lab_lifecycle;
mod lab_shipped;
mod local_access;
mod measure_truth;
mod nats_leader;
mod probe_one_attempt;
mod run_binary;
mod signals;
mod ssh_access;
mod support;
mod validation_corpus;
