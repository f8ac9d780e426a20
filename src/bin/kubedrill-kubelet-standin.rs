//! The local lab's kubelet stand-in: `kubedrill-kubelet-standin --listen ADDR:PORT` serves
//! `GET /healthz` → `ok` until killed.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = match args.as_slice() {
        [flag, addr] if flag == "--listen" => addr.parse(),
        _ => {
            eprintln!("usage: kubedrill-kubelet-standin --listen ADDR:PORT");
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
