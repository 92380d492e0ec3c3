//! The `kiln` command.

fn main() {
    eprintln!("kiln: the command line is not built yet");
    std::process::exit(1);
}
