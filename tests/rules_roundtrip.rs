//! Round trips: the one-line form parses back to the same rule (proptest over random rules,
//! hostile text included), and RON exports re-import to equal rules with their provenance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use holoscope::decode::{Field, Value};
use holoscope::rules::{
    Action, Condition, Evidence, ExportFormat, Op, Rule, RuleDef, RuleId, Who, export, import_ron,
};
use holoscope::text::Untrusted;
use proptest::prelude::*;
use std::net::IpAddr;

fn value_for(field: Field) -> BoxedStrategy<Value> {
    use holoscope::rules::model::{Kind, kind, max_value};
    match kind(field) {
        Kind::U => (0..=max_value(field).min(1 << 40))
            .prop_map(Value::U)
            .boxed(),
        Kind::Ip => prop_oneof![
            any::<u32>().prop_map(|a| Value::Ip(IpAddr::from(a.to_be_bytes()))),
            any::<u128>().prop_map(|a| Value::Ip(IpAddr::from(a.to_be_bytes()))),
        ]
        .boxed(),
        Kind::Mac => any::<[u8; 6]>().prop_map(Value::Mac).boxed(),
        Kind::Text => proptest::collection::vec(any::<u8>(), 0..24)
            .prop_map(|b| Value::Text(Untrusted::new(&b)))
            .boxed(),
    }
}

fn condition() -> impl Strategy<Value = Condition> {
    (0..Field::ALL.len(), any::<u8>(), any::<u64>(), any::<u64>())
        .prop_flat_map(|(i, which, a, b)| {
            let field = Field::ALL[i];
            let vals = proptest::collection::vec(value_for(field), 1..4);
            (
                Just(field),
                Just(which),
                Just(a),
                Just(b),
                value_for(field),
                vals,
            )
        })
        .prop_filter_map("valid condition", |(field, which, a, b, v, vs)| {
            use holoscope::rules::model::max_value;
            let max = max_value(field);
            let (x, y) = (
                a % (max.saturating_add(1)).max(1),
                b % (max.saturating_add(1)).max(1),
            );
            let op = match which % 7 {
                0 => Op::Eq(v),
                1 => Op::In(vs),
                2 => Op::Range(x.min(y), x.max(y)),
                3 => match v {
                    Value::Ip(IpAddr::V4(ip)) => {
                        let len = (a % 33) as u8;
                        let m = holoscope::rules::model::mask32(len);
                        Op::Cidr(IpAddr::from((u32::from(ip) & m).to_be_bytes()), len)
                    }
                    Value::Ip(IpAddr::V6(ip)) => {
                        let len = (a % 129) as u8;
                        let m = holoscope::rules::model::mask128(len);
                        Op::Cidr(IpAddr::from((u128::from(ip) & m).to_be_bytes()), len)
                    }
                    v => Op::Eq(v),
                },
                4 => Op::Mask {
                    mask: x,
                    bits: x & y,
                },
                5 => Op::Gt(x),
                _ => Op::Lt(x),
            };
            Condition::new(field, op).ok()
        })
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        any::<u32>(),
        prop_oneof![
            Just(Action::Drop),
            Just(Action::Alert),
            (1..u32::MAX).prop_map(Action::RateLimit)
        ],
        proptest::collection::vec(condition(), 0..6),
        any::<u8>(),
    )
        .prop_map(|(id, action, conditions, priority)| {
            Rule::new(
                RuleId(id),
                RuleDef {
                    action,
                    conditions,
                    priority,
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn display_parses_back(r in rule()) {
        let line = r.to_string();
        prop_assert!(!line.contains('\n'));
        prop_assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)), "{line}");
        let back: Rule = line.parse().map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
        prop_assert_eq!(back, r);
    }

    #[test]
    fn every_export_is_clean_ascii(rs in proptest::collection::vec(rule(), 0..5)) {
        let mut rs = rs;
        for (i, r) in rs.iter_mut().enumerate() {
            r.id = RuleId(u32::try_from(i).unwrap());
        }
        for &f in ExportFormat::ALL {
            let s = export(f, &rs).unwrap();
            prop_assert!(s.bytes().all(|b| b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b)), "{f:?}: {s}");
        }
        let back = import_ron(&export(ExportFormat::Ron, &rs).unwrap()).unwrap();
        prop_assert_eq!(back, rs);
    }
}

#[test]
fn ron_keeps_provenance() {
    let mut r: Rule =
        "R7 rate-limit 500/s when proto=17 src_port=53 dns_qname=\"x\\x1b\\xff\" priority=200"
            .parse()
            .unwrap();
    r.provenance.wave = Some("W2".into());
    r.provenance.evidence.push(Evidence {
        field: Field::SrcPort,
        feature: "src_port CONCENTRATED on NEW value 53 (96%, was 1%)".into(),
        score: 0.96,
    });
    r.add_condition(Who::Analyst, "dns_size>300".parse().unwrap())
        .unwrap();
    r.accept(Who::Analyst);
    let s = export(ExportFormat::Ron, std::slice::from_ref(&r)).unwrap();
    assert!(!s.bytes().any(|b| b == 0x1b));
    let back = import_ron(&s).unwrap();
    assert_eq!(back, vec![r]);
    assert!(import_ron("(version: 9, rules: [])").is_err());
    assert!(import_ron("not ron").is_err());
}
