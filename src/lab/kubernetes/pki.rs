//! The lab's PKI, made at `up` with the `openssl` CLI (kept when it already exists): one
//! CA for the cluster and etcd (kubeadm has two; one is enough for a lab), ECDSA P-256
//! keys, one service-account signing key shared by every apiserver, and kubeconfigs with
//! the certificates embedded.

use std::path::{Path, PathBuf};

use base64::Engine;

use super::KUBERNETES_SERVICE_IP;
use super::{admin_kubeconfig, apiserver_url, lb_url, path, pki_dir, CLUSTER_DOMAIN, CONTEXT};
use crate::lab::config::Layout;
use crate::lab::host::run;
use crate::lab::services::{chmod, mkdir, write};
use crate::lab::LabError;

/// One certificate the CA signs.
struct Leaf {
    /// `DIR/NAME` without extension: `.crt`, `.key` (and a transient `.csr`, `.ext`).
    stem: PathBuf,
    cn: String,
    orgs: Vec<&'static str>,
    /// `DNS:name` / `IP:addr` entries.
    sans: Vec<String>,
    server: bool,
}

fn client(stem: PathBuf, cn: &str, orgs: &[&'static str]) -> Leaf {
    Leaf {
        stem,
        cn: cn.into(),
        orgs: orgs.to_vec(),
        sans: Vec::new(),
        server: false,
    }
}

/// Certificate and key of a client identity in the lab's `pki/`.
pub fn client_pair(l: &Layout, name: &str) -> (PathBuf, PathBuf) {
    let stem = pki_dir(l).join(name);
    (stem.with_extension("crt"), stem.with_extension("key"))
}

/// Certificate and key of node `i`'s apiserver / etcd server / etcd peer identity.
pub fn node_pair(l: &Layout, what: &str, i: usize) -> (PathBuf, PathBuf) {
    client_pair(l, &format!("{what}-{}", l.node_name(i)))
}

pub fn ca_cert(l: &Layout) -> PathBuf {
    pki_dir(l).join("ca.crt")
}
pub fn ca_key(l: &Layout) -> PathBuf {
    pki_dir(l).join("ca.key")
}
pub fn sa_key(l: &Layout) -> PathBuf {
    pki_dir(l).join("sa.key")
}
pub fn sa_pub(l: &Layout) -> PathBuf {
    pki_dir(l).join("sa.pub")
}
/// kubeadm's layout for etcd clients: `etcd/ca.crt`, `etcd/healthcheck-client.{crt,key}`.
pub fn etcd_dir(l: &Layout) -> PathBuf {
    pki_dir(l).join("etcd")
}

fn leaves(l: &Layout) -> Vec<Leaf> {
    let pki = pki_dir(l);
    let mut all = vec![
        client(pki.join("admin"), "kubernetes-admin", &["system:masters"]),
        client(
            pki.join("controller-manager"),
            "system:kube-controller-manager",
            &[],
        ),
        client(pki.join("scheduler"), "system:kube-scheduler", &[]),
        client(pki.join("coredns"), "system:coredns", &[]),
        client(
            pki.join("apiserver-etcd-client"),
            "kube-apiserver-etcd-client",
            &[],
        ),
        client(
            etcd_dir(l).join("healthcheck-client"),
            "kube-etcd-healthcheck-client",
            &[],
        ),
    ];
    for i in 0..l.nodes {
        let name = l.node_name(i);
        all.push(client(
            pki.join(format!("kubelet-{name}")),
            &format!("system:node:{name}"),
            &["system:nodes"],
        ));
    }
    for i in 0..l.etcd_members() {
        let name = l.node_name(i);
        let addr = l.node_addr(i);
        let local = [
            format!("DNS:{name}"),
            "DNS:localhost".into(),
            format!("IP:{addr}"),
            "IP:127.0.0.1".into(),
        ];
        let mut apiserver_sans = local.to_vec();
        apiserver_sans.push(format!("IP:{}", l.lb_addr()));
        apiserver_sans.push(format!("IP:{KUBERNETES_SERVICE_IP}"));
        for dns in [
            "kubernetes".to_string(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            format!("kubernetes.default.svc.{CLUSTER_DOMAIN}"),
        ] {
            apiserver_sans.push(format!("DNS:{dns}"));
        }
        all.push(Leaf {
            stem: pki.join(format!("apiserver-{name}")),
            cn: "kube-apiserver".into(),
            orgs: vec![],
            sans: apiserver_sans,
            server: true,
        });
        for what in ["etcd-server", "etcd-peer"] {
            all.push(Leaf {
                stem: pki.join(format!("{what}-{name}")),
                cn: name.clone(),
                orgs: vec![],
                sans: local.to_vec(),
                server: true,
            });
        }
    }
    all
}

const REQ_CONFIG: &str = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n";

/// Creates whatever is missing of the CA, the service-account key and every certificate,
/// then (re)writes the kubeconfigs.
pub async fn ensure(l: &Layout, openssl: &Path) -> Result<(), LabError> {
    let openssl = path(openssl);
    mkdir(&etcd_dir(l))?;
    let pki = pki_dir(l);
    let req_cnf = pki.join("req.cnf");
    write(&req_cnf, REQ_CONFIG)?;
    if !ca_cert(l).exists() {
        let ca_cnf = pki.join("ca.cnf");
        write(
            &ca_cnf,
            "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3_ca\n\
             [dn]\nCN = kubedrill-lab-ca\n\
             [v3_ca]\nbasicConstraints = critical,CA:TRUE\n\
             keyUsage = critical,digitalSignature,keyCertSign,cRLSign\n\
             subjectKeyIdentifier = hash\n",
        )?;
        run(&[
            &openssl,
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "3650",
            "-config",
            &path(&ca_cnf),
            "-keyout",
            &path(&ca_key(l)),
            "-out",
            &path(&ca_cert(l)),
        ])
        .await?;
        chmod(&ca_key(l), 0o600)?;
    }
    std::fs::copy(ca_cert(l), etcd_dir(l).join("ca.crt")).map_err(|source| LabError::Io {
        path: etcd_dir(l).join("ca.crt"),
        source,
    })?;
    if !sa_pub(l).exists() {
        let key = path(&sa_key(l));
        run(&[
            &openssl,
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ])
        .await?;
        chmod(&sa_key(l), 0o600)?;
        run(&[
            &openssl,
            "pkey",
            "-in",
            &key,
            "-pubout",
            "-out",
            &path(&sa_pub(l)),
        ])
        .await?;
    }
    let todo: Vec<Leaf> = leaves(l)
        .into_iter()
        .filter(|leaf| !leaf.stem.with_extension("crt").exists())
        .collect();
    let issued = todo.iter().map(|leaf| issue(l, &openssl, &req_cnf, leaf));
    for result in futures::future::join_all(issued).await {
        result?;
    }
    write_kubeconfigs(l)
}

async fn issue(l: &Layout, openssl: &str, req_cnf: &Path, leaf: &Leaf) -> Result<(), LabError> {
    let (crt, key, csr, ext) = (
        leaf.stem.with_extension("crt"),
        leaf.stem.with_extension("key"),
        leaf.stem.with_extension("csr"),
        leaf.stem.with_extension("ext"),
    );
    let subject: String = leaf
        .orgs
        .iter()
        .map(|o| format!("/O={o}"))
        .chain([format!("/CN={}", leaf.cn)])
        .collect();
    run(&[
        openssl,
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-config",
        &path(req_cnf),
        "-subj",
        &subject,
        "-keyout",
        &path(&key),
        "-out",
        &path(&csr),
    ])
    .await?;
    chmod(&key, 0o600)?;
    let mut extensions = String::from(
        "basicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,keyEncipherment\n\
         authorityKeyIdentifier = keyid\n",
    );
    extensions.push_str(if leaf.server {
        "extendedKeyUsage = serverAuth,clientAuth\n"
    } else {
        "extendedKeyUsage = clientAuth\n"
    });
    if !leaf.sans.is_empty() {
        extensions.push_str(&format!("subjectAltName = {}\n", leaf.sans.join(",")));
    }
    write(&ext, &extensions)?;
    let serial = format!("0x{:032x}", rand::random::<u128>() >> 1);
    run(&[
        openssl,
        "x509",
        "-req",
        "-in",
        &path(&csr),
        "-CA",
        &path(&ca_cert(l)),
        "-CAkey",
        &path(&ca_key(l)),
        "-set_serial",
        &serial,
        "-days",
        "3650",
        "-extfile",
        &path(&ext),
        "-out",
        &path(&crt),
    ])
    .await?;
    let _ = std::fs::remove_file(&csr);
    let _ = std::fs::remove_file(&ext);
    Ok(())
}

/// Where each component's kubeconfig lives.
pub fn kubeconfig(l: &Layout, i: usize, component: &str) -> PathBuf {
    l.node_dir(i).join(format!("{component}.conf"))
}

fn write_kubeconfigs(l: &Layout) -> Result<(), LabError> {
    let lb = lb_url(l);
    write_kubeconfig(l, &admin_kubeconfig(l), &lb, "admin", "kubedrill-lab-admin")?;
    for i in 0..l.nodes {
        mkdir(&l.node_dir(i))?;
        let kubelet = format!("kubelet-{}", l.node_name(i));
        write_kubeconfig(l, &kubeconfig(l, i, "kubelet"), &lb, &kubelet, &kubelet)?;
        if l.has_etcd(i) {
            let local = apiserver_url(l, i);
            for (component, identity) in [
                ("controller-manager", "controller-manager"),
                ("scheduler", "scheduler"),
            ] {
                write_kubeconfig(l, &kubeconfig(l, i, component), &local, identity, identity)?;
            }
            write_kubeconfig(l, &kubeconfig(l, i, "coredns"), &lb, "coredns", "coredns")?;
        }
    }
    Ok(())
}

fn write_kubeconfig(
    l: &Layout,
    file: &Path,
    server: &str,
    identity: &str,
    user: &str,
) -> Result<(), LabError> {
    let b64 = |p: &Path| -> Result<String, LabError> {
        let bytes = std::fs::read(p).map_err(|source| LabError::Io {
            path: p.into(),
            source,
        })?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    let (crt, key) = client_pair(l, identity);
    let text = format!(
        "# Generated by `kubedrill lab up --kubernetes`.\n\
         apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: {CONTEXT}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         users:\n\
         - name: {user}\n  user:\n    client-certificate-data: {crt}\n    client-key-data: {key}\n\
         contexts:\n\
         - name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {user}\n\
         current-context: {CONTEXT}\n",
        ca = b64(&ca_cert(l))?,
        crt = b64(&crt)?,
        key = b64(&key)?,
    );
    write(file, &text)?;
    chmod(file, 0o600)
}
