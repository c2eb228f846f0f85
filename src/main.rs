//! The holoscope binary: parse arguments, run, map failures to exit codes.

mod cli;

fn main() {
    if let Err(f) = cli::run() {
        eprintln!("holoscope: {}", f.message);
        std::process::exit(f.code);
    }
}
