//! `rebuild_by` in the report, the build summary, and `seg stale` on a build
//! made before a grant expired and judged after.

use super::project::{bank_copy, report, target};
use crate::run::{code, seg_in, shown, stdout};

const GRANT: &str = r#"policy oncall {
  owner "team-web"
  allow web-frontend -> payments-api on tcp/8443
    expires 2026-11-24T02:00:00Z
    reason "incident OPS-9"
}
"#;

#[test]
fn a_build_before_the_expiry_is_fresh_until_the_instant_and_stale_from_it() {
    let p = bank_copy(&[("policy/oncall.seg", GRANT)]);
    let root = p.path();
    // Every target: nftables has the kernel's clock, Istio none.
    let toml = root.join("seg.toml");
    let mut text = std::fs::read_to_string(&toml).expect("seg.toml");
    text.push_str("\n[targets.nftables]\n[targets.istio]\n");
    std::fs::write(&toml, text).expect("seg.toml");
    let out = root.join("out");
    let o = seg_in(
        root,
        &[
            "build",
            ".",
            "--now",
            "2026-11-24T00:00:00Z",
            "--out",
            "out",
        ],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let summary = stdout(&o);
    assert!(
        summary.contains(
            "no clock: keeps 1 expiring rule past expiry until rebuilt: oncall/1 (expires 2026-11-24T02:00:00Z); rebuild and apply by 2026-11-24T02:00:00Z"
        ),
        "{summary}"
    );

    let r = report(&out);
    for clockless in ["kubernetes", "istio", "aws", "gcp"] {
        let t = target(&r, clockless);
        assert_eq!(t["clock"], false, "{t}");
        assert_eq!(t["rebuild_by"], "2026-11-24T02:00:00Z", "{clockless}");
        let kept = t["until_rebuilt"].as_array().expect("list");
        assert_eq!(kept.len(), 1, "{clockless}: {kept:?}");
        assert_eq!(kept[0]["rule"], "oncall/1");
        assert_eq!(kept[0]["location"], "policy/oncall.seg:3");
        assert_eq!(kept[0]["expires"], "2026-11-24T02:00:00Z");
    }
    for runtime in ["iptables", "nftables", "opa"] {
        let t = target(&r, runtime);
        assert_eq!(t["clock"], true);
        assert!(t["rebuild_by"].is_null(), "{runtime}: {t}");
        assert_eq!(t["until_rebuilt"], serde_json::json!([]));
    }

    let fresh = seg_in(root, &["stale", "out", "--now", "2026-11-24T01:59:59Z"]);
    assert_eq!(code(&fresh), 0, "{}", shown(&fresh));
    assert!(stdout(&fresh).contains("fresh: "), "{}", shown(&fresh));
    assert!(
        stdout(&fresh).contains("next rebuild due by 2026-11-24T02:00:00Z"),
        "{}",
        shown(&fresh)
    );

    let stale = seg_in(root, &["stale", "out", "--now", "2026-11-24T02:00:00Z"]);
    assert_eq!(code(&stale), 1, "{}", shown(&stale));
    for clockless in ["kubernetes", "istio", "aws", "gcp"] {
        assert!(
            stdout(&stale).contains(&format!(
                "stale: `{clockless}` still grants `oncall/1` (policy/oncall.seg:3): it expired at 2026-11-24T02:00:00Z"
            )),
            "{}",
            shown(&stale)
        );
    }
    let json = seg_in(
        root,
        &[
            "stale",
            "out",
            "--now",
            "2026-11-24T02:00:00Z",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&json), 1, "{}", shown(&json));
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(v["stale"].as_array().map(Vec::len), Some(4), "{v}");

    // Rebuilt at the instant: the grant is left out everywhere, nothing is stale.
    let o = seg_in(
        root,
        &[
            "build",
            ".",
            "--now",
            "2026-11-24T02:00:00Z",
            "--out",
            "out",
        ],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert!(
        target(&report(&out), "kubernetes")["rebuild_by"].is_null(),
        "{}",
        shown(&o)
    );
    let rebuilt = seg_in(root, &["stale", "out", "--now", "2026-11-24T02:00:00Z"]);
    assert_eq!(code(&rebuilt), 0, "{}", shown(&rebuilt));
}

#[test]
fn stale_refuses_a_folder_seg_did_not_build() {
    let p = bank_copy(&[]);
    let o = seg_in(p.path(), &["stale", "policy"]);
    assert_eq!(code(&o), 2, "{}", shown(&o));
    assert!(
        crate::run::stderr(&o).contains("report.json"),
        "{}",
        shown(&o)
    );
    std::fs::create_dir(p.path().join("fake")).expect("mkdir");
    std::fs::write(p.path().join("fake/report.json"), "{\"tool\": \"other\"}").expect("write");
    let o = seg_in(p.path(), &["stale", "fake"]);
    assert_eq!(code(&o), 2, "{}", shown(&o));
    let o = seg_in(
        p.path(),
        &["stale", "fake", "--now", "2026-11-24T02:00:00+25:00"],
    );
    assert_eq!(code(&o), 2, "{}", shown(&o));
}
