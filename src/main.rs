//! The holoscope binary: parse arguments, run, map failures to exit codes.

mod cli;

/// jemalloc with transparent huge pages (its `malloc_conf` is set at build time in
/// `.cargo/config.toml`, as jemalloc reads `thp` only at start-up). glibc's malloc can do the
/// same only through the `GLIBC_TUNABLES` environment variable, which a program cannot set for
/// itself; the page faults it saves were a tenth of a report's CPU time.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    if let Err(f) = cli::run() {
        eprintln!("holoscope: {}", f.message);
        std::process::exit(f.code);
    }
}
