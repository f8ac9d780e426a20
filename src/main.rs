fn main() {
    std::process::exit(kubedrill::cli::main());
}
