//! The local lab's kubelet stand-in: `kubedrill-kubelet-standin --listen ADDR:PORT` serves
//! `GET /healthz` → `ok` until killed. On the Kubernetes lab,
//! `kubedrill-kubelet-standin --pods LAB_DIR` is the pod runner: real processes for the
//! pods that ask for one (`kubedrill::lab::kubernetes::pod_runner`).

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, dir] = args.as_slice() {
        if flag == "--pods" {
            let dir = std::path::Path::new(dir);
            return match kubedrill::lab::kubelet_standin::run_pods(dir).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pod runner for {}: {e}", dir.display());
                    ExitCode::FAILURE
                }
            };
        }
    }
    let listen = match args.as_slice() {
        [flag, addr] if flag == "--listen" => addr.parse(),
        _ => {
            eprintln!("usage: kubedrill-kubelet-standin --listen ADDR:PORT | --pods LAB_DIR");
            return ExitCode::from(2);
        }
    };
    let Ok(listen) = listen else {
        eprintln!("--listen needs ADDR:PORT, like 10.213.0.10:10248");
        return ExitCode::from(2);
    };
    match kubedrill::lab::kubelet_standin::serve(listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kubelet stand-in on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}
