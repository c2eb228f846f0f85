//! The holoscope binary: parse arguments, run, map failures to exit codes.

mod cli;

/// jemalloc, with its default options. Backing it with transparent huge pages
/// (`thp:always`) saved a tenth of a large report's CPU on earlier hosts, but on the current
/// build machine (a virtual machine) a fresh 2 MB page costs more to fault in than the 512
/// small pages it replaces: system time doubled and the report was 4-5% slower (README, Speed).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    if let Err(f) = cli::run() {
        eprintln!("holoscope: {}", f.message);
        std::process::exit(f.code);
    }
}
