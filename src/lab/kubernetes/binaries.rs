//! Finding what the Kubernetes lab runs: the pinned binaries built by
//! `scripts/build-lab-bins.sh`, and a few Debian programs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::lab::host::which;
use crate::lab::LabError;

/// How to get the binaries when they are missing.
pub const BUILD_HINT: &str =
    "build them with `bash scripts/build-lab-bins.sh` (from the Go module proxy, cached)";

/// Built by `scripts/build-lab-bins.sh` (lab/k8s/README.md has the pinned versions).
const BUILT: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "kwok-stages.yaml",
    "coredns",
    "etcd",
    "nats-server",
];

/// Debian programs, with their packages.
const DEBIAN: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("iptables", "iptables"),
    ("sshd", "openssh-server"),
    ("ssh-keygen", "openssh-client"),
    ("dnsmasq", "dnsmasq-base"),
    ("setsid", "util-linux"),
    ("unshare", "util-linux"),
    ("haproxy", "haproxy"),
    ("openssl", "openssl"),
];

/// The directory of the built binaries: `$KUBEDRILL_BIN_CACHE/current` (default
/// `/var/cache/kubedrill/bin/current`, the link the build script points at its output).
pub fn bin_dir() -> PathBuf {
    let root = std::env::var_os("KUBEDRILL_BIN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/kubedrill/bin"));
    root.join("current")
}

/// Every program the Kubernetes lab runs, by name, or an error naming what is missing
/// and how to get it.
pub fn find() -> Result<BTreeMap<&'static str, PathBuf>, LabError> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for (program, package) in DEBIAN {
        match which(program) {
            Some(p) => {
                found.insert(*program, p);
            }
            None => missing.push(format!("`{program}` (Debian package {package})")),
        }
    }
    let dir = bin_dir();
    let built_missing: Vec<&str> = BUILT
        .iter()
        .filter(|b| !dir.join(b).is_file())
        .copied()
        .collect();
    if built_missing.is_empty() {
        // Resolve the `current` link once, so a rebuild does not swap binaries under a
        // running lab's control scripts.
        let dir = dir.canonicalize().unwrap_or(dir);
        found.extend(BUILT.iter().map(|b| (*b, dir.join(b))));
    } else {
        missing.push(format!(
            "{} in {}: {BUILD_HINT}",
            built_missing.join(", "),
            dir.display()
        ));
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(LabError::MissingPrograms(missing.join("; ")))
    }
}
