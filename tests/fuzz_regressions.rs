//! Replays every committed fuzz corpus file and crash reproducer (`fuzz/corpus/TARGET/*`,
//! `fuzz/regressions/TARGET/*`) through the same entry points the fuzzers use
//! (`holoscope::fuzz`), so a fixed crash stays fixed and CI needs no fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use holoscope::fuzz::{self, App};
use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let mut n = 0;
    for dir in ["fuzz/corpus", "fuzz/regressions"] {
        let Ok(rd) = std::fs::read_dir(Path::new(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
        files.sort();
        for p in files {
            let data = std::fs::read(&p).unwrap();
            let r = std::panic::catch_unwind(|| f(&data));
            assert!(r.is_ok(), "{target}: {} panics", p.display());
            n += 1;
        }
    }
    n
}

macro_rules! target {
    ($name:ident, $f:expr) => {
        #[test]
        fn $name() {
            let n = replay(stringify!($name), $f);
            assert!(n > 0, "no committed corpus for {}", stringify!($name));
            println!("{}: {n} inputs", stringify!($name));
        }
    };
}

target!(capture, fuzz::capture);
target!(link, fuzz::link);
target!(dns, |d| fuzz::app(App::Dns, d));
target!(http, |d| fuzz::app(App::Http, d));
target!(ntp, |d| fuzz::app(App::Ntp, d));
target!(tls, fuzz::tls);
target!(command, fuzz::command);
target!(session, fuzz::session);
target!(rules, fuzz::rules);
#[cfg(feature = "tui")]
target!(theme, fuzz::theme);
