//! Determinism across processes: the helper binary, run twice with atoms and leaves derived in
//! opposite orders, prints identical vectors and writes identical engram files.

use std::process::Command;

#[test]
fn two_processes_two_orders_same_vectors_and_engrams() {
    let dir = tempfile::tempdir().unwrap();
    let run = |order: &str| {
        let path = dir.path().join(format!("{order}.json"));
        let out = Command::new(env!("CARGO_BIN_EXE_holoscope-atoms"))
            .arg(order)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            std::fs::read(&path).unwrap(),
        )
    };
    let (out_f, file_f) = run("forward");
    let (out_r, file_r) = run("reverse");
    assert!(out_f.lines().count() > 300, "{out_f}");
    assert_eq!(out_f, out_r);
    assert_eq!(file_f, file_r);
    // The engram loads back.
    let e = holoscope::subspace::Engram::from_json(std::str::from_utf8(&file_f).unwrap()).unwrap();
    assert_eq!(e.version, holoscope::subspace::engram::ENGRAM_VERSION);
}
