//! The `kiln` command: a thin layer over the `kiln` library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
