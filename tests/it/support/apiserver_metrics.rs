//! What the lab's API servers counted themselves: `/metrics` of each one (read with the
//! admin kubeconfig, `--server` set to that server, not the load balancer), a metric's
//! samples that carry given labels, summed over every server. Tests hold a fault's report
//! against these counts.

use super::kube_lab::SharedLab;

/// The URL of every API server of the lab.
pub fn endpoints(lab: &SharedLab) -> Vec<String> {
    lab.var("apiserver_endpoints")
        .split(',')
        .map(str::to_string)
        .collect()
}

/// The `/metrics` text of the API server at `endpoint`.
pub fn scrape(lab: &SharedLab, endpoint: &str) -> String {
    lab.kubectl(&[&format!("--server={endpoint}"), "get", "--raw", "/metrics"])
}

/// The sum of metric `name`'s samples in `text` whose labels include all of `labels`.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (set, value) = match rest.strip_prefix('{') {
                Some(r) => r.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            let pairs: Vec<&str> = set.split(',').collect();
            labels
                .iter()
                .all(|(k, v)| pairs.contains(&format!("{k}=\"{v}\"").as_str()))
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// `sum` at every API server, in the order of `endpoints`.
pub fn per_server(lab: &SharedLab, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    endpoints(lab)
        .iter()
        .map(|e| sum(&scrape(lab, e), name, labels))
        .collect()
}

/// `sum` over every API server.
pub fn total(lab: &SharedLab, name: &str, labels: &[(&str, &str)]) -> f64 {
    per_server(lab, name, labels).iter().sum()
}
