fn main() {
    // Behave like other command-line tools when the reader goes away (`kubedrill list | head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(kubedrill::cli::main());
}
