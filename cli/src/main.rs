//! The `kiln` command: a thin layer over the `kiln` library.

mod cli;

fn main() {
    // Before any thread starts: one allocator arena keeps a long import's
    // memory near what the engine holds (see `kiln_cli::memory`).
    kiln_cli::memory::one_malloc_arena();
    std::process::exit(cli::main());
}
