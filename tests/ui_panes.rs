//! Pane and whole-app snapshots on a `TestBackend` (80x24 and 160x48), heatmap colour checks,
//! scripted key sessions over the shipped sample, and the escaping test over the hostile sample.
#![cfg(feature = "tui")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ui_common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use holoscope::decode::Field;
use holoscope::detect::ResidualMap;
use holoscope::investigation::{Hooks, Investigation};
use holoscope::ui::app::{App, AppEvent, Overlay};
use holoscope::ui::theme::Theme;
use holoscope::ui::{PaneCtx, heatmap};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use std::path::Path;
use std::sync::Arc;
use ui_common::{demo, hooks};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn inv_at_wave(n: usize) -> Investigation {
    let mut inv = Investigation::new(Path::new("samples/demo.pcap"), demo(), hooks());
    for _ in 0..n {
        assert!(inv.jump_wave(true));
    }
    inv
}

fn draw(w: u16, h: u16, f: impl Fn(Rect, &mut Buffer)) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|fr| {
        let a = fr.area();
        f(a, fr.buffer_mut());
    })
    .unwrap();
    t
}

type Render = fn(&PaneCtx<'_>, Rect, &mut Buffer);

/// One pane of `inv` drawn alone at `w` x `h` (default theme, first row selected).
fn pane(
    inv: &Investigation,
    focused: bool,
    w: u16,
    h: u16,
    render: Render,
) -> Terminal<TestBackend> {
    let theme = Theme::default();
    let ctx = PaneCtx {
        inv: Some(inv),
        theme: &theme,
        focused,
        selected: 0,
    };
    draw(w, h, |a, b| render(&ctx, a, b))
}

fn snap_pane(name: &str, inv: &Investigation, selected: usize, render: Render) {
    let theme = Theme::default();
    for (w, h) in SIZES {
        let ctx = PaneCtx {
            inv: Some(inv),
            theme: &theme,
            focused: true,
            selected,
        };
        let t = draw(w, h, |a, b| render(&ctx, a, b));
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
    }
}

/// A residual map over the demo's buckets: stripe `s` of bucket `i` is `(i % 7) * 0.3 * (s+1)`
/// over a threshold of 1, so some cells are far above and some below.
fn synthetic_map(buckets: usize) -> ResidualMap {
    let stripes = 6;
    #[allow(clippy::cast_precision_loss)]
    let profiles = (0..buckets)
        .map(|i| {
            (i % 11 != 5).then(|| {
                (0..stripes)
                    .map(|s| ((i % 7) as f32) * 0.3 * (s as f32 + 1.0) / 2.0)
                    .collect()
            })
        })
        .collect();
    ResidualMap {
        stripes,
        profiles,
        thresholds: vec![1.0; stripes],
        threshold: (stripes as f32).sqrt(),
        stripe_fields: vec![
            vec![Field::SrcIp, Field::DstIp],
            vec![Field::SrcPort, Field::DstPort],
            vec![Field::TcpFlags, Field::TcpWindow],
            vec![Field::DnsQname],
            vec![Field::FrameLen, Field::Ttl],
            vec![Field::Proto],
        ],
    }
}

fn with_map(mut inv: Investigation) -> Investigation {
    let mut f = (*inv.analysis.findings).clone();
    f.residual = Some(synthetic_map(f.buckets.len()));
    Arc::make_mut(&mut inv.analysis).findings = Arc::new(f);
    inv
}

fn without_map(mut inv: Investigation) -> Investigation {
    let mut f = (*inv.analysis.findings).clone();
    f.residual = None;
    Arc::make_mut(&mut inv.analysis).findings = Arc::new(f);
    inv
}

#[test]
fn panes_snapshot_at_two_sizes() {
    let inv = inv_at_wave(2);
    snap_pane("shifts", &inv, 0, holoscope::ui::shifts::render);
    snap_pane("entities", &inv, 1, holoscope::ui::entities::render);
    snap_pane("rules", &inv, 0, holoscope::ui::rules::render);
    snap_pane("slider", &inv, 0, holoscope::ui::slider::render);
    snap_pane(
        "heatmap_not_run",
        &without_map(inv_at_wave(2)),
        0,
        heatmap::render,
    );
    // The residual map the engine computed for the sample (residual scoring on by default).
    snap_pane("heatmap_demo", &inv, 0, heatmap::render);
    snap_pane("heatmap", &with_map(inv_at_wave(2)), 2, heatmap::render);
    snap_pane("help", &inv, 0, holoscope::ui::help::render);
}

#[test]
fn heatmap_colours_follow_the_scale_and_mark_the_threshold() {
    let inv = with_map(inv_at_wave(2));
    let theme = Theme::default();
    let map = inv.findings().residual.clone().unwrap();
    let ctx = PaneCtx {
        inv: Some(&inv),
        theme: &theme,
        focused: true,
        selected: 0,
    };
    let (w, h) = (80u16, 24u16);
    let t = draw(w, h, |a, b| heatmap::render(&ctx, a, b));
    let buf = t.backend().buffer();
    // Inner area starts at (1,1); the grid at x = 1 + 4, stripes from row 2.
    let cols = usize::from(w - 2 - 4);
    let first = heatmap::first_column(inv.cursor, cols, inv.len());
    let (mut above, mut below) = (0, 0);
    for s in 0..map.stripes.min(usize::from(h) - 5) {
        for c in 0..cols {
            let pos = first + c;
            let cell = &buf[(5 + u16::try_from(c).unwrap(), 2 + u16::try_from(s).unwrap())];
            match heatmap::ratio(&map, pos, s) {
                Some(q) => {
                    assert_eq!(cell.bg, theme.heat_color(q), "stripe {s} bucket {pos}");
                    if q >= 1.0 {
                        assert_eq!(cell.symbol(), heatmap::OVER_MARK);
                        above += 1;
                    } else {
                        assert_eq!(cell.symbol(), " ");
                        below += 1;
                    }
                }
                None => assert_eq!(cell.symbol(), "·"),
            }
        }
    }
    assert!(above > 10 && below > 10, "{above} above, {below} below");
    // The hottest colour is not the coldest one, and the threshold splits the scale.
    assert_ne!(theme.heat_color(0.1), theme.heat_color(1.5));
    assert_ne!(theme.heat_color(0.95), theme.heat_color(1.0));
}

fn key(c: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn chars(app: &mut App, s: &str) {
    for c in s.chars() {
        app.handle(key(KeyCode::Char(c)));
    }
}

fn loaded_app(path: &str, analysis: holoscope::engine::Analysis, hooks: Hooks) -> App {
    let mut app = App::new(path.into(), Theme::default(), None, hooks);
    let built = App::investigate(std::path::Path::new(path), analysis, hooks, None);
    app.handle(AppEvent::Loaded(Box::new(built)));
    app
}

fn run_jobs(app: &mut App) {
    for j in app.take_jobs() {
        if let Some(ev) = j.run() {
            app.handle(ev);
        }
    }
}

fn screen(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    t
}

fn text(t: &Terminal<TestBackend>) -> String {
    t.backend()
        .buffer()
        .content()
        .iter()
        .map(ratatui::buffer::Cell::symbol)
        .collect()
}

/// A rule that repeats an earlier one (same action, priority and conditions, in another
/// order) is marked with the earlier one's id; the earlier one and a different rule are not.
#[test]
fn rules_pane_marks_a_repeated_rule() {
    let mut inv = inv_at_wave(2);
    let first = inv.rules[0].clone();
    let mut again = first.clone();
    again.rule.id = holoscope::rules::RuleId(98);
    again.rule.def.conditions.reverse();
    let mut other = first.clone();
    other.rule.id = holoscope::rules::RuleId(99);
    other.rule.def.priority = other.rule.def.priority.wrapping_add(1);
    inv.rules.push(again);
    inv.rules.push(other);
    let (w, h) = (160, 48);
    let t = pane(&inv, false, w, h, holoscope::ui::rules::render);
    let screen = text(&t);
    let rows: Vec<String> = screen
        .chars()
        .collect::<Vec<_>>()
        .chunks(usize::from(w))
        .map(|r| r.iter().collect())
        .collect();
    let row = |id: &str| {
        rows.iter()
            .find(|r| {
                r.trim_start_matches('│')
                    .trim_start()
                    .starts_with(&format!("{id} "))
            })
            .unwrap_or_else(|| panic!("no row {id}:\n{}", rows.join("\n")))
            .clone()
    };
    assert!(
        row("R98").contains(&format!("={} ", first.rule.id)),
        "{}",
        row("R98")
    );
    assert!(
        !row("R99").contains(&format!("={} ", first.rule.id)),
        "{}",
        row("R99")
    );
    assert!(
        !row(&first.rule.id.to_string()).contains("=R"),
        "{}",
        rows.join("\n")
    );
}

#[test]
fn whole_app_scripted_session() {
    for (w, h) in SIZES {
        let mut app = App::new("samples/demo.pcap".into(), Theme::default(), None, hooks());
        // First screen before the analysis arrives: progress, no panes filled.
        app.handle(AppEvent::Progress(holoscope::engine::Progress {
            packets: 1000,
            offset: 3_000_000,
            sample_ratio: 1,
        }));
        insta::assert_snapshot!(
            format!("app_loading_{w}x{h}"),
            screen(&mut app, w, h).backend()
        );
        let built = App::investigate(
            std::path::Path::new("samples/demo.pcap"),
            (*demo()).clone(),
            hooks(),
            None,
        );
        app.handle(AppEvent::Loaded(Box::new(built)));
        // A fresh capture opens on its first wave; `]` steps to the second.
        let inv = app.inv.as_ref().unwrap();
        assert_eq!(inv.cursor, inv.findings().waves[0].buckets.start);
        assert_eq!(inv.wave_at(inv.cursor).unwrap().id, 1);
        chars(&mut app, "]");
        let inv = app.inv.as_ref().unwrap();
        assert_eq!(inv.wave_at(inv.cursor).unwrap().id, 2);
        insta::assert_snapshot!(
            format!("app_wave2_{w}x{h}"),
            screen(&mut app, w, h).backend()
        );
        // Focus the rules pane, accept the first rule, edit the second.
        app.handle(key(KeyCode::Tab));
        app.handle(key(KeyCode::Tab));
        app.handle(key(KeyCode::Tab));
        chars(&mut app, "a");
        app.handle(key(KeyCode::Down));
        app.handle(key(KeyCode::Enter));
        assert!(matches!(app.overlay, Overlay::Editor { .. }));
        // Replace the rule text: Ctrl-U clears it.
        app.handle(AppEvent::Key(KeyEvent::new(
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        )));
        chars(&mut app, "alert when proto=17");
        app.handle(key(KeyCode::Enter));
        assert_eq!(app.overlay, Overlay::None);
        let inv = app.inv.as_ref().unwrap();
        assert!(inv.rules[1].pending);
        run_jobs(&mut app);
        let inv = app.inv.as_ref().unwrap();
        assert_eq!(
            inv.rules[0].rule.status(),
            holoscope::rules::Status::Accepted
        );
        assert!(!inv.rules[1].pending);
        assert!(inv.rules[1].counts.unwrap().wave_total > 0);
        insta::assert_snapshot!(
            format!("app_rules_{w}x{h}"),
            screen(&mut app, w, h).backend()
        );
        // Command bar with completion and history.
        chars(&mut app, ":wind");
        app.handle(key(KeyCode::Tab));
        chars(&mut app, "30s");
        app.handle(key(KeyCode::Enter));
        assert!((app.inv.as_ref().unwrap().window_s - 30.0).abs() < 1e-9);
        chars(&mut app, ":");
        app.handle(key(KeyCode::Up));
        assert_eq!(app.cmd.text, "window 30s");
        app.handle(key(KeyCode::Esc));
        chars(&mut app, ":export ");
        app.handle(key(KeyCode::Tab));
        insta::assert_snapshot!(
            format!("app_command_{w}x{h}"),
            screen(&mut app, w, h).backend()
        );
        app.handle(key(KeyCode::Esc));
        // `b`: the window before the cursor becomes the baseline; the slider shows it.
        chars(&mut app, "b");
        let inv = app.inv.as_ref().unwrap();
        assert!(inv.baseline.is_some());
        assert!(matches!(
            inv.findings().baseline,
            holoscope::detect::BaselineInfo::Fixed { buckets, .. } if buckets > 0
        ));
        chars(&mut app, "?");
        let t = screen(&mut app, w, h);
        assert!(text(&t).contains("previous / next wave"));
        insta::assert_snapshot!(format!("app_help_{w}x{h}"), t.backend());
    }
}

#[test]
fn entity_detail_rereads_packets_by_index() {
    let mut app = loaded_app("samples/demo.pcap", (*demo()).clone(), Hooks::default());
    app.handle(key(KeyCode::Tab));
    app.handle(key(KeyCode::Tab));
    app.handle(key(KeyCode::Enter));
    let Overlay::Entity { entity, packets } = &app.overlay else {
        panic!("no entity overlay");
    };
    assert!(packets.is_none());
    let entity = entity.clone();
    run_jobs(&mut app);
    let Overlay::Entity {
        packets: Some(p), ..
    } = &app.overlay
    else {
        panic!("packets not filled");
    };
    assert!(!p.is_empty());
    assert!(p.iter().all(|l| l.contains(&entity)), "{p:?}");
    let t = screen(&mut app, 160, 48);
    assert!(text(&t).contains("ports out"));
    insta::assert_snapshot!("app_entity_160x48", t.backend());
}

/// `:explain` of an address the capture never saw says so instead of an empty overlay.
#[test]
fn entity_detail_of_an_unknown_host_says_so() {
    let mut app = loaded_app("samples/demo.pcap", (*demo()).clone(), Hooks::default());
    chars(&mut app, ":explain 192.0.2.99");
    app.handle(key(KeyCode::Enter));
    assert!(matches!(app.overlay, Overlay::Entity { .. }));
    run_jobs(&mut app);
    let t = screen(&mut app, 120, 40);
    assert!(
        text(&t).contains("no such entity in this capture"),
        "{}",
        text(&t)
    );
}

#[test]
fn hostile_text_is_escaped_everywhere() {
    let path = "samples/hostile.pcap";
    assert!(
        Path::new(path).is_file(),
        "samples/hostile.pcap missing (holoscope sample --hostile)"
    );
    let a = ui_common::analyze(Path::new(path));
    let mut app = loaded_app(path, a, hooks());
    let mut seen = String::new();
    let mut check = |app: &mut App| {
        for (w, h) in SIZES {
            let t = screen(app, w, h);
            for c in t.backend().buffer().content() {
                let s = c.symbol();
                assert!(
                    !s.chars().any(|ch| ch.is_control()),
                    "control character drawn: {s:?}"
                );
            }
            seen.push_str(&text(&t));
        }
    };
    check(&mut app);
    for _ in 0..4 {
        chars(&mut app, "]");
        check(&mut app);
    }
    // Every entity's detail, with its packets.
    app.handle(key(KeyCode::Tab));
    app.handle(key(KeyCode::Tab));
    for _ in 0..3 {
        app.handle(key(KeyCode::Enter));
        run_jobs(&mut app);
        check(&mut app);
        app.handle(key(KeyCode::Esc));
        app.handle(key(KeyCode::Down));
    }
    // The hostile sample's text really was on screen, in escaped form.
    assert!(
        seen.contains("\\x1b") || seen.contains("\\u{1b}") || seen.contains("\\e"),
        "no escaped ESC shown"
    );
}

#[test]
fn any_size_and_every_overlay_renders() {
    let mut app = loaded_app("samples/demo.pcap", (*demo()).clone(), hooks());
    chars(&mut app, "]");
    let sizes = [
        (1, 1),
        (10, 3),
        (20, 6),
        (30, 12),
        (33, 13),
        (41, 14),
        (80, 24),
        (200, 60),
    ];
    type Step = Box<dyn Fn(&mut App)>;
    let mut states: Vec<Step> = vec![
        Box::new(|_| {}),
        Box::new(|a| chars(a, "?")),
        Box::new(|a| chars(a, ":goto wave 2")),
        Box::new(|a| {
            a.run_line("edit R1");
        }),
        Box::new(|a| a.run_line("explain 10.0.0.66")),
    ];
    for state in states.drain(..) {
        state(&mut app);
        for (w, h) in sizes {
            screen(&mut app, w, h);
        }
        app.handle(key(KeyCode::Esc));
    }
}

#[test]
fn mouse_focuses_selects_and_drags_the_slider() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut app = loaded_app("samples/demo.pcap", (*demo()).clone(), hooks());
    screen(&mut app, 160, 48);
    let m = |kind, column, row| {
        AppEvent::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    // Entities pane: bottom-left; its fourth data row.
    let r = app.areas.panes[2];
    app.handle(m(
        MouseEventKind::Down(MouseButton::Left),
        r.x + 5,
        r.y + 2 + 3,
    ));
    assert_eq!(app.focus, holoscope::ui::Pane::Entities);
    assert_eq!(app.sel[2], 3);
    // Slider: click near the start, drag to the far end.
    let s = app.areas.panes[4];
    app.handle(m(MouseEventKind::Down(MouseButton::Left), s.x + 1, s.y + 2));
    assert_eq!(app.inv.as_ref().unwrap().cursor, 0);
    app.handle(m(
        MouseEventKind::Drag(MouseButton::Left),
        s.x + s.width - 2,
        s.y + 2,
    ));
    let inv = app.inv.as_ref().unwrap();
    assert!(
        inv.cursor > inv.len() * 9 / 10,
        "{} of {}",
        inv.cursor,
        inv.len()
    );
    app.handle(m(MouseEventKind::Up(MouseButton::Left), 0, 0));
}

/// The status bar gives way to its message at 80 columns: the theme's name, the baseline
/// mode, the window and the cursor's offset go before the message is cut, and a message too
/// long for the row still ends in an ellipsis inside it. At 160 columns everything shows.
#[test]
fn status_bar_makes_room_for_the_message() {
    let mut app = loaded_app("samples/demo.pcap", (*demo()).clone(), hooks());
    let status = |app: &mut App, w: u16| {
        let t = screen(app, w, 24);
        text(&t)
            .chars()
            .skip(usize::from(w) * 23)
            .collect::<String>()
    };
    let wide = status(&mut app, 160);
    for part in [
        "cursor 09:00:30.000 (+29.9s) · wave 1",
        "window 10s",
        "theme dark",
    ] {
        assert!(wide.contains(part), "{part} missing from {wide:?}");
    }
    assert!(wide.contains("loaded · ? for help"), "{wide:?}");
    let narrow = status(&mut app, 80);
    assert!(
        narrow.contains("cursor 09:00:30.000 · wave 1"),
        "{narrow:?}"
    );
    assert!(narrow.contains("loaded · ? for help"), "{narrow:?}");
    assert!(!narrow.contains("theme"), "{narrow:?}");
    // An error from the command bar, longer than the row has room for.
    chars(&mut app, ":frobnicate-with-a-very-long-name-indeed");
    app.handle(key(KeyCode::Enter));
    let (msg, err) = app.message.clone().unwrap();
    assert!(err && msg.chars().count() > 30, "{msg}");
    let narrow = status(&mut app, 80);
    assert!(narrow.contains("unknown command"), "{narrow:?}");
    assert!(narrow.trim_end().ends_with('…'), "{narrow:?}");
}

/// `violations` turns the shifts pane into the violation groups of the capture: the demo's
/// SYN flood is one row naming its victim; `s` on the scan's row suppresses the host it
/// shares (its rows go), Enter on the flood's opens the victim, and `shifts` turns the pane
/// back.
#[test]
fn violations_command_lists_the_groups_and_opens_a_host() {
    let mut app = loaded_app("samples/demo.pcap", (*demo()).clone(), Hooks::default());
    chars(&mut app, ":violations");
    app.handle(key(KeyCode::Enter));
    assert!(app.violations_view, "{:?}", app.message);
    for (w, h) in SIZES {
        let t = screen(&mut app, w, h);
        insta::assert_snapshot!(format!("app_violations_{w}x{h}"), t.backend());
    }
    let shown = text(&screen(&mut app, 160, 48));
    assert!(shown.contains("Violations · 52 of 52 groups"), "{shown}");
    assert!(
        shown.contains("tcp_syn_only: server 10.0.0.11 port 8080, 6000 sessions from 6000 clients"),
        "{shown}"
    );
    // Down moves to the scan's row (one client, 2000 ports); `s` suppresses its address.
    app.handle(key(KeyCode::Down));
    chars(&mut app, "s");
    let inv = app.inv.as_ref().unwrap();
    assert_eq!(
        inv.suppressions,
        vec![("src_ip".to_string(), "10.0.0.10".to_string())]
    );
    assert!(
        inv.violation_groups()
            .rows
            .iter()
            .all(|g| g.address != "10.0.0.10")
    );
    // Enter on the first row opens the flood's victim.
    app.handle(key(KeyCode::Up));
    app.handle(key(KeyCode::Enter));
    let Overlay::Entity { entity, .. } = &app.overlay else {
        panic!("no entity overlay");
    };
    assert_eq!(entity, "10.0.0.11");
    app.handle(key(KeyCode::Esc));
    chars(&mut app, ":shifts");
    app.handle(key(KeyCode::Enter));
    assert!(!app.violations_view);
    assert!(!text(&screen(&mut app, 80, 24)).contains("Violations ·"));
}

/// A capture without a wave (all attack, or quiet) shows why in the shifts pane, then what its
/// violations were: the groups are the explanation left.
#[test]
fn without_waves_the_shifts_pane_shows_the_violation_groups() {
    let mut a = (*demo()).clone();
    let mut f = (*a.findings).clone();
    f.waves.clear();
    f.bucket_shifts.clear();
    a.findings = Arc::new(f);
    let inv = Investigation::new(Path::new("samples/demo.pcap"), Arc::new(a), hooks());
    let t = pane(&inv, true, 80, 24, holoscope::ui::shifts::render);
    let shown = text(&t);
    assert!(shown.contains("no wave:"), "{shown}");
    assert!(shown.contains("5 of 52 groups, 8434 violations"), "{shown}");
    insta::assert_snapshot!("shifts_no_wave_80x24", t.backend());
}

/// `:add RULE` files the analyst's rule after the drafts, focuses the rules pane on it and
/// replays it off the UI thread on the wave at the cursor; its figures then fill in.
#[test]
fn added_rule_is_selected_and_replayed() {
    let path = "samples/demo.pcap";
    let mut app = loaded_app(path, (*demo()).clone(), hooks());
    chars(&mut app, ":goto wave 2");
    app.handle(key(KeyCode::Enter));
    let drafts = app.inv.as_ref().unwrap().rules.len();
    chars(
        &mut app,
        ":add drop when dst_ip=10.0.0.11 dst_port=8080 tcp_flags=S",
    );
    app.handle(key(KeyCode::Enter));
    assert_eq!(app.focus, holoscope::ui::Pane::Rules);
    assert_eq!(app.sel[holoscope::ui::Pane::Rules.index()], drafts);
    let added = &app.inv.as_ref().unwrap().rules[drafts];
    assert!(added.pending && added.counts.is_none());
    assert_eq!(added.rule.provenance.wave.as_deref(), Some("W2"));
    run_jobs(&mut app);
    let added = &app.inv.as_ref().unwrap().rules[drafts];
    let c = added.counts.expect("replayed");
    assert!(!added.pending);
    assert!(c.wave_matched > 0 && c.baseline_matched == 0, "{c:?}");
    // An invalid rule is refused with a message and adds nothing.
    chars(&mut app, ":add drop when frobnicate=1");
    app.handle(key(KeyCode::Enter));
    assert_eq!(app.inv.as_ref().unwrap().rules.len(), drafts + 1);
    assert!(
        app.message.as_ref().is_some_and(|(_, err)| *err),
        "{:?}",
        app.message
    );
}

/// A cell without a residual profile says why: the subspace was still learning there (and
/// from when profiles start), never learnt before the capture ended, or the bucket's packets
/// were not in the scored sample.
#[test]
fn a_cell_without_a_profile_says_why() {
    use heatmap::NoProfile;
    let map = synthetic_map(100);
    // Bucket 5 of the synthetic map has no profile, buckets around it do.
    assert_eq!(heatmap::no_profile(&map, 5), NoProfile::NotSampled);
    let mut late = map.clone();
    for p in late.profiles.iter_mut().take(40) {
        *p = None;
    }
    assert_eq!(heatmap::no_profile(&late, 3), NoProfile::Learning(Some(40)));
    assert_eq!(heatmap::no_profile(&late, 49), NoProfile::NotSampled);
    let mut never = map;
    never.profiles.iter_mut().for_each(|p| *p = None);
    assert_eq!(heatmap::no_profile(&never, 3), NoProfile::Learning(None));

    // On the sample's own map, its first bucket lies in the warm-up.
    let mut inv = inv_at_wave(0);
    inv.cursor = 0;
    let real = inv.findings().residual.clone().unwrap();
    let Some(NoProfile::Learning(Some(first))) = heatmap::ratio(&real, 0, 1)
        .is_none()
        .then(|| heatmap::no_profile(&real, 0))
    else {
        panic!("the sample's first bucket has a profile");
    };
    let shown = text(&pane(&inv, true, 160, 48, heatmap::render));
    let want = format!(
        "still learning here (profiles from {})",
        holoscope::ui::clock(inv.bucket_time(first))
    );
    assert!(shown.contains(&want), "{want}\n{shown}");
}
