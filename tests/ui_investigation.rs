//! The investigation model: commands, journal, export, and exact session restore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ui_common;

use holoscope::command::{Command, RuleSel, TimeSpec, parse};
use holoscope::investigation::{Effect, Investigation};
use holoscope::rules::Status;
use holoscope::session::SessionFile;
use std::path::Path;
use std::sync::Arc;
use ui_common::{demo, hooks};

fn run(inv: &mut Investigation, line: &str) -> Effect {
    let e = inv.apply(parse(line).unwrap()).unwrap();
    if let Effect::Replay(i, _) = e {
        let r = inv.rules[i].rule.clone();
        let res = Investigation::replay(&inv.path, &r, &inv.analysis, inv.hooks);
        inv.set_counts(i, &r.def, res);
    }
    e
}

#[test]
fn session_restores_exactly() {
    let d = tempfile::tempdir().unwrap();
    let mut inv = Investigation::new(Path::new("samples/demo.pcap"), demo(), hooks());
    assert!(inv.rules.len() >= 2, "test drafter gives a rule per wave");
    run(&mut inv, "goto wave 3");
    let at_wave3 = inv.cursor;
    assert_eq!(inv.wave_at(at_wave3).unwrap().id, 3);
    run(&mut inv, "goto +1.2s");
    assert!(inv.cursor > at_wave3);
    run(&mut inv, "window 25s");
    run(&mut inv, "accept R1");
    run(&mut inv, "reject R2");
    run(&mut inv, "edit R2 rate-limit 10/s when proto=17");
    run(&mut inv, "suppress dst_port=53");
    run(&mut inv, "note looks like a scan");
    assert!(inv.rules[1].counts.is_some());
    let file = d.path().join("s/a.ron");
    let m = run(&mut inv, &format!("save {}", file.display()));
    assert!(
        matches!(m, Effect::Message(ref s) if s.starts_with("saved")),
        "{m:?}"
    );

    let s = SessionFile::load(&file).unwrap();
    let (back, notes) =
        Investigation::from_session(inv.path.as_path(), demo(), hooks(), &s, Some(&file));
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(back.cursor, inv.cursor);
    assert_eq!(back.window_s, 25.0);
    assert_eq!(back.suppressions, inv.suppressions);
    assert_eq!(back.notes, vec!["looks like a scan".to_string()]);
    assert_eq!(back.rules[0].rule.status(), Status::Accepted);
    assert_eq!(back.rules[1].rule.def, inv.rules[1].rule.def);
    assert_eq!(back.rules[1].rule.status(), inv.rules[1].rule.status());
    assert_eq!(back.rules[1].counts, inv.rules[1].counts);
    assert_eq!(back.journal, inv.journal);
}

#[test]
fn changed_capture_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let cap = d.path().join("c.pcap");
    std::fs::copy("samples/demo.pcap", &cap).unwrap();
    let mut inv = Investigation::new(&cap, demo(), hooks());
    let file = d.path().join("s.ron");
    inv.save(Some(&file)).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&cap)
        .map(|mut f| {
            use std::io::Write as _;
            f.write_all(b"x").unwrap();
        })
        .unwrap();
    let s = SessionFile::load(&file).unwrap();
    let (_, notes) = Investigation::from_session(&cap, demo(), hooks(), &s, Some(&file));
    assert!(notes.iter().any(|n| n.contains("has changed")), "{notes:?}");
}

#[test]
fn export_writes_the_accepted_rules_and_errors_are_messages() {
    let d = tempfile::tempdir().unwrap();
    let mut inv = Investigation::new(Path::new("samples/demo.pcap"), demo(), hooks());
    inv.apply(Command::Accept(RuleSel::Id("R1".into())))
        .unwrap();
    let out = d.path().join("r.nft");
    run(&mut inv, &format!("export nft {}", out.display()));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("R1"), "{text}");
    assert!(!text.contains("R2"), "only accepted rules: {text}");
    assert!(
        inv.apply(Command::Accept(RuleSel::Id("R99".into())))
            .is_err()
    );
    assert!(
        inv.apply(Command::Goto(TimeSpec::Wave("9".into())))
            .is_err()
    );
    assert!(
        inv.apply(Command::Suppress("nofield".into(), "1".into()))
            .is_err()
    );
    // A time outside the capture lands on its edge, and the message says so.
    for (line, says) in [
        ("goto 99:00", "is past the capture's end"),
        ("goto @100", "is before the capture starts"),
    ] {
        let e = run(&mut inv, line);
        assert!(
            matches!(&e, Effect::Message(m) if m.contains(says)),
            "{e:?}"
        );
    }
    // Inside, and at the first bucket's start (before the first packet), nothing is added.
    let first_bucket = inv.bucket_time(0).as_secs_f64();
    for line in ["goto 1:00".to_string(), format!("goto @{first_bucket}")] {
        let e = run(&mut inv, &line);
        assert!(
            matches!(&e, Effect::Message(m) if !m.contains('(')),
            "{line}: {e:?}"
        );
    }
    // Suppressing the top shift's value removes it from the shifts at the cursor.
    run(&mut inv, "goto wave 2");
    let (_, shifts) = inv.shifts_at_cursor();
    let top = &shifts[0];
    let v = top.value.as_ref().unwrap().display(top.field);
    run(&mut inv, &format!("suppress {}={v}", top.field.name()));
    let (_, after) = inv.shifts_at_cursor();
    assert!(
        after
            .iter()
            .all(|s| !(s.field == top.field && s.value == top.value))
    );
    // Suppressing it again or lifting what is not suppressed changes nothing, says so and
    // is not journalled; lifting it brings the shift back.
    let pair = format!("{}={v}", top.field.name());
    let journalled = inv.journal.len();
    let again = run(&mut inv, &format!("suppress {pair}"));
    assert!(
        matches!(&again, Effect::Message(m) if *m == format!("{pair} is already suppressed")),
        "{again:?}"
    );
    let err = inv
        .apply(parse("unsuppress dst_port=9").unwrap())
        .unwrap_err();
    assert_eq!(err, "dst_port=9 is not suppressed");
    assert_eq!(inv.journal.len(), journalled);
    run(&mut inv, &format!("unsuppress {pair}"));
    assert_eq!(inv.journal.len(), journalled + 1);
    let (_, back) = inv.shifts_at_cursor();
    assert!(
        back.iter()
            .any(|s| s.field == top.field && s.value == top.value)
    );
    // A fixed baseline re-runs detection.
    let e = run(&mut inv, "baseline 0:00..0:20");
    assert!(matches!(e, Effect::Message(_)));
    assert!(matches!(
        inv.findings().baseline,
        holoscope::detect::BaselineInfo::Fixed { .. }
    ));
}

/// A wave that recurs as an earlier one says so in the shifts pane's title and the shell's
/// wave list.
#[test]
fn a_recurring_wave_names_its_first_wave() {
    let mut a = (*demo()).clone();
    let mut f = (*a.findings).clone();
    f.waves[1].like = Some(1);
    a.findings = Arc::new(f);
    let mut inv = Investigation::new(Path::new("samples/demo.pcap"), Arc::new(a), hooks());
    run(&mut inv, "goto wave 2");
    // The cursor bucket may carry shifts of its own; one without them shows the wave's.
    let wave = inv.findings().waves[1].clone();
    let quiet = wave
        .buckets
        .clone()
        .find(|p| inv.findings().shifts_at(*p).is_empty())
        .expect("a bucket of wave 2 without shifts of its own");
    inv.cursor = quiet;
    assert_eq!(inv.shifts_at_cursor().0, "wave 2 · like W1");
    // The shell's table exists only with the `shell` feature (on by default).
    #[cfg(feature = "shell")]
    {
        let listed = holoscope::shell::tables::waves(&inv);
        let w2 = listed
            .lines()
            .find(|l| l.trim_start().starts_with("W2 "))
            .unwrap();
        assert!(w2.contains(" like W1: "), "{listed}");
        assert_eq!(listed.matches(" like W").count(), 1, "{listed}");
    }
}
