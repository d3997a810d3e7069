//! `seg stale OUT [--now T]`: whether a built output still holds a grant that
//! has expired. Targets without a clock (Kubernetes, AWS, GCP) keep a rule
//! until an output without it is applied; `report.json` lists, per such target,
//! every emitted rule that expires (`until_rebuilt`). A scheduler runs this
//! against the output it applied: exit 1 names every expired `allow` still in
//! force there, exit 0 when there is none (an expired `deny` still applied is
//! only noted: it blocks more than the policy, never less).

use super::Exit;
use crate::driver;
use clap::{Args, ValueEnum};
use seg_ir::{Expiry, Timestamp};
use serde::Serialize;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct StaleArgs {
    /// A folder `seg build` wrote (it holds report.json).
    pub out: PathBuf,
    /// Judge as of this time (RFC 3339 or a date); defaults to SOURCE_DATE_EPOCH, then the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// How to print the result.
    #[arg(long, value_enum, default_value = "human")]
    pub format: StaleFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StaleFormat {
    Human,
    Json,
}

/// One rule a clockless target of the output keeps past its expiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub target: String,
    pub rule: String,
    pub location: String,
    pub action: String,
    /// As written in the policy: a date or an instant.
    pub expires: String,
    /// The first instant the rule is gone (RFC 3339).
    pub ends: String,
}

/// What the output holds as of `now`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub now: String,
    /// When the output was built (its `now`).
    pub built: String,
    /// Expired allows still in force: the output is stale when there is one.
    pub stale: Vec<Kept>,
    /// Expired denies still in force (more restrictive than the policy).
    pub expired_denies: Vec<Kept>,
    /// The earliest end among the rules that are still live: rebuild and apply by then.
    pub next_rebuild_by: Option<String>,
}

pub fn run(args: &StaleArgs) -> Exit {
    let now = match driver::resolve_now(args.now.as_deref()) {
        Ok(t) => t,
        Err(d) => {
            eprintln!("error: {}", d.message);
            return Exit::Usage;
        }
    };
    let verdict = match read_report(&args.out).and_then(|r| judge(&r, now)) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {}", seg_diag::visible(&e));
            return Exit::Usage;
        }
    };
    match args.format {
        StaleFormat::Json => {
            let json = serde_json::to_string_pretty(&verdict).unwrap_or_default();
            println!("{json}");
        }
        StaleFormat::Human => print!("{}", seg_diag::visible(&human(&verdict, &args.out))),
    }
    if verdict.stale.is_empty() {
        Exit::Ok
    } else {
        Exit::Policy
    }
}

fn read_report(out: &Path) -> Result<Json, String> {
    let path = out.join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read `{}`: {e}; give the folder `seg build --out` wrote",
            path.display()
        )
    })?;
    let report: Json = serde_json::from_str(&text)
        .map_err(|e| format!("`{}` is not JSON: {e}", path.display()))?;
    if report["tool"] != "seg" {
        return Err(format!("`{}` was not written by seg", path.display()));
    }
    Ok(report)
}

/// The verdict on a build report as of `now`.
pub fn judge(report: &Json, now: Timestamp) -> Result<Verdict, String> {
    let targets = report["targets"]
        .as_array()
        .ok_or("report.json has no `targets` list")?;
    let mut verdict = Verdict {
        now: now.to_string(),
        built: report["now"].as_str().unwrap_or("?").to_string(),
        stale: Vec::new(),
        expired_denies: Vec::new(),
        next_rebuild_by: None,
    };
    let mut next: Option<Timestamp> = None;
    for t in targets {
        let name = t["target"].as_str().ok_or("a target without a name")?;
        let (Some(clock), Some(kept)) = (t["clock"].as_bool(), t["until_rebuilt"].as_array())
        else {
            return Err(format!(
                "the report says nothing of what `{name}` keeps until rebuilt (written by an older seg): build again"
            ));
        };
        if clock {
            continue;
        }
        for k in kept {
            let field = |f: &str| {
                k[f].as_str()
                    .map(String::from)
                    .ok_or_else(|| format!("an `until_rebuilt` entry of `{name}` has no `{f}`"))
            };
            let written = field("expires")?;
            let expires = Expiry::parse(&written).ok_or_else(|| {
                format!("`{name}`: `{written}` is not an expiry (a date or an RFC 3339 instant)")
            })?;
            let entry = Kept {
                target: name.to_string(),
                rule: field("rule")?,
                location: field("location")?,
                action: field("action")?,
                expires: written,
                ends: expires.end().to_string(),
            };
            if expires.end() > now {
                next = Some(next.map_or(expires.end(), |n| n.min(expires.end())));
            } else if entry.action == "allow" {
                verdict.stale.push(entry);
            } else {
                verdict.expired_denies.push(entry);
            }
        }
    }
    verdict.next_rebuild_by = next.map(|t| t.to_string());
    Ok(verdict)
}

fn human(v: &Verdict, out: &Path) -> String {
    let mut s = String::new();
    for k in &v.stale {
        s.push_str(&format!(
            "stale: `{}` still grants `{}` ({}): it expired at {}\n",
            k.target, k.rule, k.location, k.ends
        ));
    }
    for k in &v.expired_denies {
        s.push_str(&format!(
            "note: `{}` still applies the deny `{}` ({}), expired at {}: it blocks more than the policy until rebuilt\n",
            k.target, k.rule, k.location, k.ends
        ));
    }
    if v.stale.is_empty() {
        s.push_str(&format!(
            "fresh: no target of {} holds an expired grant at {} (built at {})\n",
            out.display(),
            v.now,
            v.built
        ));
    } else {
        s.push_str(&format!(
            "{} at {} (built at {}): rebuild and apply it (`seg build`, then your apply step)\n",
            match v.stale.len() {
                1 => "1 expired grant is still in force".to_string(),
                n => format!("{n} expired grants are still in force"),
            },
            v.now,
            v.built
        ));
    }
    if let Some(by) = &v.next_rebuild_by {
        s.push_str(&format!("next rebuild due by {by}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Json {
        json!({
            "tool": "seg",
            "now": "2026-12-06T14:00:00Z",
            "targets": [
                {"target": "opa", "clock": true, "rebuild_by": null, "until_rebuilt": []},
                {"target": "kubernetes", "clock": false, "rebuild_by": "2026-12-06T16:00:00Z",
                 "until_rebuilt": [
                    {"rule": "grant/1", "location": "policy/grants.seg:3", "action": "allow",
                     "expires": "2026-12-06T16:00:00Z"},
                    {"rule": "p/2", "location": "policy/p.seg:9", "action": "deny",
                     "expires": "2026-12-06T16:00:00Z"},
                    {"rule": "p/3", "location": "policy/p.seg:12", "action": "allow",
                     "expires": "2026-12-31"}
                 ]}
            ]
        })
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("instant")
    }

    #[test]
    fn an_expired_allow_on_a_clockless_target_is_stale_from_its_instant() {
        let r = report();
        let fresh = judge(&r, at("2026-12-06T15:59:59Z")).expect("verdict");
        assert!(fresh.stale.is_empty());
        assert_eq!(
            fresh.next_rebuild_by.as_deref(),
            Some("2026-12-06T16:00:00Z")
        );
        let stale = judge(&r, at("2026-12-06T16:00:00Z")).expect("verdict");
        let rules: Vec<&str> = stale.stale.iter().map(|k| k.rule.as_str()).collect();
        assert_eq!(rules, ["grant/1"]);
        assert_eq!(stale.expired_denies.len(), 1);
        assert_eq!(
            stale.next_rebuild_by.as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        let later = judge(&r, at("2027-01-01T00:00:00Z")).expect("verdict");
        assert_eq!(later.stale.len(), 2);
        assert_eq!(later.next_rebuild_by, None);
    }

    #[test]
    fn a_report_without_the_lists_or_with_a_bad_expiry_is_refused() {
        let old = json!({"tool": "seg", "targets": [{"target": "kubernetes"}]});
        assert!(judge(&old, at("2026-12-06T16:00:00Z")).is_err());
        let mut bad = report();
        bad["targets"][1]["until_rebuilt"][0]["expires"] = json!("2026-12-06T16:00:00+25:00");
        let e = judge(&bad, at("2026-12-06T16:00:00Z")).unwrap_err();
        assert!(e.contains("+25:00"), "{e}");
    }
}
