//! The `galen` binary: the command line of the galen library.

fn main() -> std::process::ExitCode {
    galen::cli::main()
}
