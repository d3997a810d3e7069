//! Property: checking any parsed program never panics, whatever names,
//! operators, conditions and tests it combines, and a program that checks
//! keeps the IR invariants. Programs come in two flavours: "clean" ones
//! (well-typed pieces, so many check without errors) and "noisy" ones
//! (unknown names, type errors, cycles, disabled identities, bad windows).

mod check_util;

use check_util::{INVENTORY, run};
use proptest::prelude::*;

const CLEAN_NAMES: &[&str] = &["api", "worker", "db", "web", "any"];
const NOISY_NAMES: &[&str] = &[
    "ci-runner",
    "report-key",
    "old-batch",
    "contractor",
    "seg-a",
    "seg-c",
    "nope",
];
const CLEAN_TESTS: &[&str] = &[
    "team == \"payments\"",
    "env == \"prod\"",
    "env != \"dev\"",
    "tier in [1, 2]",
    "pci",
    "kind == workload",
    "name matches \"w*\"",
    "has(owner)",
    "labels.app == \"worker\"",
];
const NOISY_TESTS: &[&str] = &[
    "tier == \"1\"",
    "env == \"live\"",
    "bogus == 1",
    "team",
    "kind == robot",
    "tier matches \"1\"",
];

fn pick(
    clean: bool,
    good: &'static [&'static str],
    bad: &'static [&'static str],
) -> BoxedStrategy<String> {
    let good = prop::sample::select(good).prop_map(str::to_string);
    if clean {
        good.boxed()
    } else {
        prop_oneof![2 => good, 1 => prop::sample::select(bad).prop_map(str::to_string)].boxed()
    }
}

fn pred(clean: bool) -> BoxedStrategy<String> {
    pick(clean, CLEAN_TESTS, NOISY_TESTS)
        .prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
                inner.prop_map(|a| format!("not ({a})")),
            ]
        })
        .boxed()
}

fn set(clean: bool, segments: bool) -> BoxedStrategy<String> {
    let names = if segments {
        &["seg-a", "seg-b", "api", "db", "web"][..]
    } else {
        CLEAN_NAMES
    };
    let name = prop_oneof![3 => prop::sample::select(names).prop_map(str::to_string), 1 => pick(clean, CLEAN_NAMES, NOISY_NAMES)];
    let leaf = prop_oneof![
        name,
        prop::collection::vec(
            pick(clean, &["api", "worker", "db", "web"], NOISY_NAMES),
            1..4
        )
        .prop_map(|v| format!("[{}]", v.join(", "))),
        pred(clean).prop_map(|p| format!("(identities where {p})")),
        prop::sample::select(
            &[
                "network 10.0.0.0/30",
                "network 0.0.0.0/0",
                "network fd00::/8, 10.0.1.5"
            ][..]
        )
        .prop_map(str::to_string),
    ];
    leaf.prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} | {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} & {b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a} - {b})")),
        ]
    })
    .boxed()
}

fn cond(clean: bool) -> BoxedStrategy<String> {
    let side = prop::sample::select(&["source", "destination"][..]);
    let atom = prop_oneof![
        Just("mtls".to_string()),
        Just("time 22:00..02:00".to_string()),
        Just("days fri..mon".to_string()),
        Just("request.method in [\"GET\"]".to_string()),
        Just("request.path matches \"/a/*\"".to_string()),
        Just("context.region == \"eu\"".to_string()),
        Just("context.flag".to_string()),
        pick(
            clean,
            &["mtls"],
            &[
                "time 09:00..09:00",
                "context.missing == 1",
                "request.host == \"x\"",
                "team == \"x\""
            ]
        ),
        (side, pick(clean, CLEAN_TESTS, NOISY_TESTS))
            .prop_filter("has() is written around the path", |(_, t)| !t
                .starts_with("has("))
            .prop_map(|(s, t)| format!("{s}.{t}")),
    ];
    atom.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
    .boxed()
}

fn rule(clean: bool) -> BoxedStrategy<String> {
    let action = prop::sample::select(&["allow", "deny"][..]);
    let arrow = prop::sample::select(&["->", "->", "<->"][..]);
    let svc = pick(
        clean,
        &[
            "tcp/5432",
            "postgres",
            "any",
            "icmp",
            "web-ports",
            "udp/53, tcp/1-100",
        ],
        &["missing"],
    );
    let tail = prop::sample::select(
        &[
            "",
            " expires 2026-11-23",
            " expires 2026-12-01",
            " owner \"x\"",
        ][..],
    );
    (
        action,
        set(clean, true),
        arrow,
        set(clean, true),
        svc,
        prop::option::of(cond(clean)),
        tail,
    )
        .prop_map(|(a, s, ar, d, v, c, t)| {
            let when = c.map(|c| format!(" when {c}")).unwrap_or_default();
            format!("  {a} {s} {ar} {d} on {v}{when}{t}\n")
        })
        .boxed()
}

fn program() -> impl Strategy<Value = String> {
    prop::bool::weighted(0.7).prop_flat_map(|clean| {
        let seg_c = if clean { Just("[db]".to_string()).boxed() } else { Just("seg-c | seg-a".to_string()).boxed() };
        (set(clean, false), set(clean, false), seg_c, prop::collection::vec(rule(clean), 1..6), prop::bool::ANY).prop_map(
            |(a, b, c, rules, owner)| {
                let owner = if owner { "  owner \"team\"\n" } else { "" };
                format!(
                    "use std::services::{{postgres}}\ncontext {{ region: enum[eu, us], flag: bool }}\n\
                     service web-ports = tcp/80, tcp/443\nsegment seg-a = {a}\nsegment seg-b = {b}\nsegment seg-c = {c}\n\
                     policy p {{\n{owner}{}}}\n\
                     test \"t\" {{\n  expect allow api -> db on tcp/5432\n  expect deny web -> db on tcp/1 with mtls\n}}\n",
                    rules.concat()
                )
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn checking_never_panics_and_keeps_invariants(src in program()) {
        let mut map = seg_diag::SourceMap::new();
        let file = map.add("policy/main.seg", src.as_str());
        if seg_syntax::parse(file, &src).is_err() {
            return Ok(());
        }
        let out = run(INVENTORY, &[("policy/main.seg", &src)]);
        let errors = out.diags.iter().any(|d| d.is_error());
        prop_assert_eq!(out.program.is_some(), !errors, "{}", out.rendered());
        if let Some(p) = &out.program {
            for (i, r) in p.rules.iter().enumerate() {
                prop_assert_eq!(r.id.0 as usize, i);
                prop_assert!(r.src.explicit.is_subset(&r.src.identities));
                prop_assert!(r.dst.explicit.is_subset(&r.dst.identities));
                prop_assert!(!matches!(&r.condition, seg_ir::Condition::And(v) | seg_ir::Condition::Or(v) if v.is_empty()));
                // Destinations never hold identities without network presence.
                for id in &r.dst.identities {
                    let ident = p.identity(*id);
                    prop_assert!(!ident.addresses.is_empty() || ident.kubernetes.is_some(), "{}", ident.name);
                }
                // Every identity overlapping a network of the set is a member.
                for (side, e) in [("src", &r.src), ("dst", &r.dst)] {
                    for ident in &p.identities {
                        let overlaps = ident.addresses.iter().any(|a| e.networks.overlaps(&seg_ir::CidrSet::from_net(*a)));
                        let reachable = side == "src" || !ident.addresses.is_empty() || ident.kubernetes.is_some();
                        prop_assert!(!overlaps || !reachable || e.identities.contains(&ident.id), "{side} of {} misses {}", r.provenance.label, ident.name);
                    }
                }
            }
            let labels: std::collections::BTreeSet<&str> = p.rules.iter().map(|r| r.provenance.label.as_str()).collect();
            prop_assert_eq!(labels.len(), p.rules.len(), "labels are unique");
        }
    }
}
