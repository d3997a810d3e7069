//! The OPA bundle against the reference evaluator, flow by flow, in an
//! independent Rego engine (regorus): generated programs and the lab program
//! with thousands of flows covering time, mTLS, L7 and context; malformed
//! inputs (never allowed); denies whose condition cannot be evaluated (still
//! applied); and the Envoy adapter on Envoy-shaped inputs.
//!
//! Builtin errors are evaluated both ways: undefined as in OPA, and aborting
//! as regorus does by default (a valid input must never hit one).

mod opa;

use opa::bundle::{self, Errors, Loaded};
use opa::{fixtures, inputs};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use seg_ir::{
    Action, Expectation, Flow, FlowEndpoint, Program, Protocol, Test, Timestamp, Value, eval,
};
use seg_tests::r#gen::{self, GenConfig};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

fn runner() -> TestRunner {
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

fn sample<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>, runner: &mut TestRunner) -> T {
    strategy.new_tree(runner).expect("strategy").current()
}

/// Decide every flow with the bundle and the reference; returns how many.
fn compare(program: &Program, loaded: &Loaded, flows: &[Flow]) -> usize {
    let mut lenient = loaded.engine(Errors::Undefined);
    let mut strict = loaded.engine(Errors::Abort);
    let mut vm = loaded.vm();
    for (i, flow) in flows.iter().enumerate() {
        let reference = eval::decide(program, flow);
        let input = inputs::authz(program, flow);
        let d = bundle::eval(&mut lenient, &input, "data.seg.authz.decision").expect("decision");
        assert_eq!(
            d["allow"],
            json!(reference.allowed),
            "flow {flow:?}\ninput {input}\ndecision {d}"
        );
        assert_eq!(
            d["matched"],
            opa::matched(program, &reference.matched),
            "flow {flow:?}\ninput {input}"
        );
        assert_eq!(
            d["reason"],
            opa::reason(program, flow, &reference),
            "flow {flow:?}"
        );
        assert_eq!(
            vm.allow(&input),
            Ok(reference.allowed),
            "register VM: {input}"
        );
        // Abort on builtin errors: a valid input must not raise one.
        if i % 3 == 0 {
            assert_eq!(
                bundle::allow(&mut strict, &input),
                Ok(reference.allowed),
                "strict: {input}"
            );
        }
    }
    flows.len()
}

#[test]
fn generated_programs_decide_like_the_reference() {
    let cfg = GenConfig {
        max_identities: 7,
        max_rules: 10,
        ..GenConfig::default()
    };
    let mut runner = runner();
    let mut flows_checked = 0;
    let mut conditional = 0;
    for _ in 0..12 {
        let (program, flows) = sample(r#gen::program_and_flows(cfg, 250), &mut runner);
        let (prepared, artifacts) = opa::emit(&program, &[], None);
        // Every condition class is enforced here: nothing is approximated.
        assert_eq!(prepared.approximations, [], "opa approximated a rule");
        conditional += program
            .rules
            .iter()
            .filter(|r| r.condition != seg_ir::Condition::True)
            .count();
        let loaded = bundle::load(opa::artifact(&artifacts, "bundle.tar.gz"));
        flows_checked += compare(&prepared.program, &loaded, &flows);
    }
    assert!(flows_checked >= 3000, "{flows_checked} flows");
    assert!(
        conditional >= 10,
        "only {conditional} conditional rules were generated"
    );
}

/// Flows the generator does not aim at: Unicode paths, address spellings,
/// protocols by number.
fn lab_extra_flows(program: &Program) -> Vec<Flow> {
    let id = |name: &str| {
        FlowEndpoint::Identity(program.identity_by_name(name).expect("lab identity").id)
    };
    let addr = |a: &str| FlowEndpoint::Address(a.parse().expect("address"));
    let at = |s: &str| Timestamp::parse(s).expect("timestamp");
    let base = Flow {
        src: id("payments-api"),
        dst: id("ledger \"db\""),
        protocol: Protocol::Tcp,
        port: 8080,
        at: fixtures::now(),
        mtls: true,
        method: Some("GET".into()),
        path: Some("/api/v1/items/42é".into()),
        context: BTreeMap::from([("region".to_string(), Value::String("eu".into()))]),
    };
    let mut out = Vec::new();
    for path in [
        "/api/v1/items/42é",
        "/api//items/é",
        "/api/items/é",
        "/api/v1/items/é/x",
        "/api/ü/items/ééé",
        "/api/admin/items/xé",
        "/API/v1/items/xé",
        "/api/v1/items/xe",
        "",
        "é",
    ] {
        for method in ["GET", "HEAD", "DELETE", "get"] {
            out.push(Flow {
                path: Some(path.into()),
                method: Some(method.into()),
                ..base.clone()
            });
        }
    }
    for region in [None, Some("eu"), Some("us")] {
        let context = region
            .map(|r| BTreeMap::from([("region".to_string(), Value::String(r.into()))]))
            .unwrap_or_default();
        out.push(Flow {
            context,
            ..base.clone()
        });
    }
    for (src, dst, protocol, port) in [
        ("::ffff:10.1.9.49", "10.1.3.5", Protocol::Tcp, 5432),
        ("10.1.9.49", "10.1.3.5", Protocol::Tcp, 5432),
        ("10.1.2.10", "10.1.3.5", Protocol::Tcp, 5432),
        ("2001:db8:ff::1", "fd00:1::10", Protocol::Tcp, 8443),
        ("2001:db8:ff:0:0:0:0:1", "10.1.2.10", Protocol::Tcp, 443),
        ("203.0.113.255", "fd00:1::10", Protocol::Tcp, 443),
        ("203.0.114.0", "fd00:1::10", Protocol::Tcp, 443),
        ("8.8.8.8", "169.254.169.254", Protocol::Udp, 53),
        ("fd00:1::10", "fd00:ec2::254", Protocol::Icmp, 0),
        ("2001:db8::5", "10.1.2.10", Protocol::Sctp, 9000),
        ("2001:db8::5", "10.1.2.10", Protocol::Other(47), 0),
    ] {
        for mtls in [false, true] {
            out.push(Flow {
                src: addr(src),
                dst: addr(dst),
                protocol,
                port,
                mtls,
                ..base.clone()
            });
        }
    }
    // Migrations: 22:00..02:00 on fri..mon, denied 01:00..01:30 at weekends, until expiry.
    for instant in [
        "2026-11-20T21:59:59Z",
        "2026-11-20T22:00:00Z",
        "2026-11-21T01:00:00Z",
        "2026-11-21T01:29:59Z",
        "2026-11-21T01:30:00Z",
        "2026-11-21T02:00:00Z",
        "2026-11-22T23:59:59Z",
        "2026-11-23T00:30:00Z",
        "2026-11-23T01:59:59Z",
        "2026-11-24T01:00:00Z",
        "2026-11-19T23:00:00Z",
    ] {
        out.push(Flow {
            src: id("migrator"),
            port: 5432,
            mtls: false,
            at: at(instant),
            ..base.clone()
        });
    }
    out
}

#[test]
fn lab_program_decides_like_the_reference() {
    let mut program = fixtures::lab();
    let mut runner = runner();
    let mut flows = sample(
        proptest::collection::vec(r#gen::flow(&program), 1500),
        &mut runner,
    );
    flows.extend(lab_extra_flows(&program));
    // The flows become the program's test block too, so the generated
    // authz_test.rego is checked on them (expectations from the reference).
    let expectations = flows
        .iter()
        .take(300)
        .enumerate()
        .map(|(i, f)| Expectation {
            decision: if eval::decide(&program, f).allowed {
                Action::Allow
            } else {
                Action::Deny
            },
            flow: f.clone(),
            at_given: true,
            file: "policy/lab.seg".into(),
            line: 100 + i as u32,
            origin: seg_diag::Span::new(seg_diag::FileId(0), 0, 0),
        })
        .collect();
    program.tests = vec![Test {
        name: "lab \"ü\" flows\n".into(),
        expectations,
    }];
    let (prepared, artifacts) = opa::emit(&program, &[], None);
    let loaded = bundle::load(opa::artifact(&artifacts, "bundle.tar.gz"));
    let n = compare(&prepared.program, &loaded, &flows);
    assert!(n >= 1500);
    let allowed = flows
        .iter()
        .filter(|f| eval::decide(&program, f).allowed)
        .count();
    assert!(
        allowed >= 50 && allowed < n,
        "{allowed} of {n} flows allowed: the sample does not exercise both outcomes"
    );

    let text = loaded.text("seg/authz_test.rego");
    let names: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("test_"))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(names.len(), 300);
    let mut engine = loaded.engine(Errors::Undefined);
    for name in names {
        let v = bundle::eval(
            &mut engine,
            &json!({}),
            &format!("data.seg.authz_test.{name}"),
        );
        assert_eq!(v, Ok(json!(true)), "{name}");
    }
}

// ---- fail closed --------------------------------------------------------------

fn lab_bundle() -> (Program, Loaded) {
    let lab = fixtures::lab();
    let (prepared, artifacts) = opa::emit(&lab, &[], None);
    (
        prepared.program.into_owned(),
        bundle::load(opa::artifact(&artifacts, "bundle.tar.gz")),
    )
}

/// An input every rule path of which allows: payments-api -> ledger on 5432 with mTLS.
fn allowed_input() -> Json {
    json!({
        "source": {"principal": "spiffe://lab.example/ns/pay/sa/api"},
        "destination": {"principal": "spiffe://lab.example/vm/ledger"},
        "protocol": "tcp",
        "port": 5432,
        "mtls": true,
        "request": {"method": "GET", "path": "/x"},
        "context": {"region": "eu", "break_glass": true, "ticket": "T-1"},
        "now": "2026-11-20T12:00:00Z",
    })
}

fn with(mut base: Json, pointer: &str, value: Option<Json>) -> Json {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let obj = if parent.is_empty() {
        &mut base
    } else {
        base.pointer_mut(parent).expect("parent")
    };
    let obj = obj.as_object_mut().expect("object");
    match value {
        Some(v) => obj.insert(key.to_string(), v),
        None => obj.remove(key),
    };
    base
}

#[test]
fn malformed_inputs_are_never_allowed() {
    let (_, loaded) = lab_bundle();
    let base = allowed_input();
    let mut lenient = loaded.engine(Errors::Undefined);
    let mut strict = loaded.engine(Errors::Abort);
    let mut vm = loaded.vm();
    assert_eq!(
        bundle::allow(&mut lenient, &base),
        Ok(true),
        "the base input must be allowed"
    );
    // payments-api by address: lab/9 allows 10.1.0.0/16 -> ledger with mTLS.
    let by_address = with(
        base.clone(),
        "/source",
        Some(json!({"address": "10.1.2.10"})),
    );
    assert_eq!(
        bundle::allow(&mut lenient, &by_address),
        Ok(true),
        "the address input must be allowed"
    );
    let s = |v: &str| Some(json!(v));
    let cases: Vec<(&str, Json)> = vec![
        ("no source", with(base.clone(), "/source", None)),
        (
            "source is a string",
            with(
                base.clone(),
                "/source",
                s("spiffe://lab.example/ns/pay/sa/api"),
            ),
        ),
        (
            "source is empty",
            with(base.clone(), "/source", Some(json!({}))),
        ),
        (
            "principal is a number",
            with(base.clone(), "/source/principal", Some(json!(7))),
        ),
        (
            "principal is a number next to an address",
            with(by_address.clone(), "/source/principal", Some(json!(7))),
        ),
        (
            "principal is an array",
            with(
                base.clone(),
                "/source/principal",
                Some(json!(["spiffe://lab.example/ns/pay/sa/api"])),
            ),
        ),
        // Next to an address, a principal of any other type than a string
        // is malformed, not absent (the VM renders `set()` like `[]`).
        (
            "principal is an empty array next to an address",
            with(by_address.clone(), "/source/principal", Some(json!([]))),
        ),
        (
            "principal is an empty object next to an address",
            with(by_address.clone(), "/source/principal", Some(json!({}))),
        ),
        (
            "principal is null next to an address",
            with(by_address.clone(), "/source/principal", Some(json!(null))),
        ),
        (
            "address is not an address",
            with(by_address.clone(), "/source/address", s("10.1.2.256")),
        ),
        (
            "address has leading zeros",
            with(by_address.clone(), "/source/address", s("010.1.2.10")),
        ),
        (
            "address has a zone",
            with(by_address.clone(), "/source/address", s("fe80::1%eth0")),
        ),
        (
            "address is a CIDR",
            with(by_address.clone(), "/source/address", s("10.1.2.10/32")),
        ),
        (
            "address is a number",
            with(
                by_address.clone(),
                "/source/address",
                Some(json!(167903754)),
            ),
        ),
        (
            "address has nine groups",
            with(
                by_address.clone(),
                "/source/address",
                s("FD00:1::1:2:3:4:5:6:7"),
            ),
        ),
        ("no destination", with(base.clone(), "/destination", None)),
        (
            "destination is null",
            with(base.clone(), "/destination", Some(Json::Null)),
        ),
        ("no protocol", with(base.clone(), "/protocol", None)),
        (
            "protocol in capitals",
            with(base.clone(), "/protocol", s("TCP")),
        ),
        (
            "protocol out of range",
            with(base.clone(), "/protocol", Some(json!(256))),
        ),
        (
            "protocol is fractional",
            with(base.clone(), "/protocol", Some(json!(6.5))),
        ),
        ("no port", with(base.clone(), "/port", None)),
        ("port is a string", with(base.clone(), "/port", s("5432"))),
        (
            "port is fractional",
            with(base.clone(), "/port", Some(json!(5432.5))),
        ),
        (
            "port out of range",
            with(base.clone(), "/port", Some(json!(70000))),
        ),
        (
            "port negative",
            with(base.clone(), "/port", Some(json!(-1))),
        ),
        ("mtls is a string", with(base.clone(), "/mtls", s("true"))),
        ("mtls is 1", with(base.clone(), "/mtls", Some(json!(1)))),
        (
            "request is a string",
            with(base.clone(), "/request", s("GET /x")),
        ),
        (
            "method is a number",
            with(base.clone(), "/request/method", Some(json!(1))),
        ),
        (
            "path is null",
            with(base.clone(), "/request/path", Some(Json::Null)),
        ),
        (
            "context is a list",
            with(base.clone(), "/context", Some(json!(["eu"]))),
        ),
        (
            "enum context outside the enum",
            with(base.clone(), "/context/region", s("mars")),
        ),
        (
            "bool context as a string",
            with(base.clone(), "/context/break_glass", s("true")),
        ),
        (
            "string context as a number",
            with(base.clone(), "/context/ticket", Some(json!(1))),
        ),
        (
            "now is not a time",
            with(base.clone(), "/now", s("yesterday")),
        ),
        (
            "now is a number",
            with(base.clone(), "/now", Some(json!(1_795_000_000))),
        ),
        (
            "now before 1970",
            with(base.clone(), "/now", s("1969-12-31T23:59:59Z")),
        ),
        ("now is null", with(base.clone(), "/now", Some(Json::Null))),
        ("input is a list", json!([base.clone()])),
        ("input is a string", json!("allow")),
    ];
    for (what, input) in cases {
        assert_eq!(
            bundle::allow(&mut lenient, &input),
            Ok(false),
            "{what}: {input}"
        );
        let reason = bundle::eval(&mut lenient, &input, "data.seg.authz.reason").expect("reason");
        assert!(
            reason
                .as_str()
                .is_some_and(|r| r.starts_with("malformed input: ")),
            "{what}: reason {reason}"
        );
        // regorus' default: an error (which any enforcement point treats as a
        // deny) or a deny, never an allow.
        let vm_result = vm.allow(&input);
        assert!(
            matches!(vm_result, Ok(false) | Err(_)),
            "{what} (register VM): {vm_result:?}"
        );
        let strict_result = bundle::allow(&mut strict, &input);
        assert!(
            matches!(strict_result, Ok(false) | Err(_)),
            "{what} (strict): {strict_result:?}"
        );
    }
    // A known principal decides the endpoint; its `address` is then not read.
    let ignored = with(
        base.clone(),
        "/source/address",
        Some(json!(["not", "read"])),
    );
    assert_eq!(bundle::allow(&mut lenient, &ignored), Ok(true));
    // Unknown fields and undeclared context inputs are ignored, not malformed.
    let extra = with(
        with(base.clone(), "/extra", Some(json!({"x": 1}))),
        "/context/undeclared",
        Some(json!(5)),
    );
    assert_eq!(bundle::allow(&mut lenient, &extra), Ok(true));
}

#[test]
fn denies_whose_condition_cannot_be_evaluated_still_apply() {
    let (program, loaded) = lab_bundle();
    let rule = |label: &str| {
        json!(
            program
                .rules
                .iter()
                .find(|r| r.provenance.label == label)
                .expect("rule")
                .provenance
                .id
        )
    };
    let (night_allow, weekend_deny, metadata_deny) = (rule("lab/2"), rule("lab/10"), rule("lab/5"));
    let migrator = json!({
        "source": {"principal": "migrator"},
        "destination": {"principal": "spiffe://lab.example/vm/ledger"},
        "protocol": "tcp",
        "port": 5432,
        "now": "2026-11-21T01:10:00Z",
    });
    let mut engine = loaded.engine(Errors::Undefined);
    let mut vm = loaded.vm();
    let set = |engine: &mut regorus::Engine, input: &Json, rule: &str| {
        bundle::eval(engine, input, &format!("data.seg.authz.{rule}")).expect(rule)
    };
    // At a valid instant: saturday 01:10 is in both windows.
    assert_eq!(
        set(&mut engine, &migrator, "allowing"),
        json!([night_allow])
    );
    assert_eq!(
        set(&mut engine, &migrator, "blocking"),
        json!([weekend_deny])
    );
    // Sunday 03:00: neither window; the deny's condition fails, so it does not apply.
    let later = with(
        migrator.clone(),
        "/now",
        Some(json!("2026-11-22T03:00:00Z")),
    );
    assert_eq!(set(&mut engine, &later, "allowing"), json!([]));
    assert_eq!(set(&mut engine, &later, "blocking"), json!([]));
    // The instant cannot be read (before 1970, not a time, not a string):
    // the time-bound allow does not match; the time-bound deny applies.
    for now in [
        json!("1969-12-31T23:59:59Z"),
        json!("not a time"),
        json!(42),
    ] {
        let broken = with(migrator.clone(), "/now", Some(now.clone()));
        assert_eq!(
            set(&mut engine, &broken, "allowing"),
            json!([]),
            "now {now}"
        );
        assert_eq!(
            set(&mut engine, &broken, "blocking"),
            json!([weekend_deny]),
            "now {now}"
        );
        assert_eq!(set(&mut engine, &broken, "allow"), json!(false));
        let vm_result = vm.allow(&broken);
        assert!(
            matches!(vm_result, Ok(false) | Err(_)),
            "register VM, now {now}: {vm_result:?}"
        );
    }
    // An unconditional deny is not weakened by broken input either.
    let metadata = json!({"source": {"address": "10.9.9.9"}, "destination": {"address": "169.254.169.254"},
                          "protocol": "tcp", "port": 80, "now": "garbage", "mtls": "yes"});
    assert_eq!(
        set(&mut engine, &metadata, "blocking"),
        json!([metadata_deny])
    );
}

// ---- the Envoy adapter -----------------------------------------------------------

fn clock() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp(secs as i64)
}

/// For each (source, destination, port, path) the adapter must decide as the
/// reference does on the flow Envoy describes: the source by its certificate
/// when mTLS, else by address; the query string dropped; the real clock.
fn check_envoy(
    program: &Program,
    loaded: &Loaded,
    cases: &[(&str, &str, u16, &str, &str)],
) -> usize {
    let mut engine = loaded.engine(Errors::Undefined);
    let mut allowed = 0;
    for &(src, dst, port, method, path) in cases {
        let src_id = program.identity_by_name(src).expect("source identity");
        let dst_id = program.identity_by_name(dst).expect("destination identity");
        let src_addr = src_id.addresses[0].network();
        let dst_addr = dst_id.addresses[0].network();
        for mtls in [true, false] {
            let principal = if mtls { src_id.spiffe.clone() } else { None };
            let input = inputs::envoy(
                &inputs::Peer {
                    principal: principal.clone(),
                    address: src_addr.to_string(),
                    port: 40000,
                },
                &inputs::Peer {
                    principal: dst_id.spiffe.clone(),
                    address: dst_addr.to_string(),
                    port,
                },
                method,
                path,
            );
            let flow = |at| Flow {
                src: if principal.is_some() {
                    FlowEndpoint::Identity(src_id.id)
                } else {
                    FlowEndpoint::Address(src_addr)
                },
                dst: if dst_id.spiffe.is_some() {
                    FlowEndpoint::Identity(dst_id.id)
                } else {
                    FlowEndpoint::Address(dst_addr)
                },
                protocol: Protocol::Tcp,
                port,
                at,
                mtls: principal.is_some(),
                method: Some(method.to_string()),
                path: Some(path.split('?').next().unwrap_or("").to_string()),
                context: BTreeMap::new(),
            };
            let before = eval::decide(program, &flow(clock())).allowed;
            let got =
                bundle::eval(&mut engine, &input, "data.seg.envoy.allow").expect("envoy allow");
            let after = eval::decide(program, &flow(clock())).allowed;
            if before == after {
                assert_eq!(
                    got,
                    json!(before),
                    "{src} -> {dst}:{port} {method} {path} mtls={mtls}"
                );
                allowed += usize::from(before);
            }
            let d = bundle::eval(&mut engine, &input, "data.seg.envoy.decision")
                .expect("envoy decision");
            assert_eq!(d["allow"], got);
        }
    }
    allowed
}

#[test]
fn envoy_adapter_decides_like_the_reference() {
    let (program, loaded) = lab_bundle();
    let allowed = check_envoy(
        &program,
        &loaded,
        &[
            ("payments-api", "ledger \"db\"", 5432, "GET", "/"),
            (
                "payments-api",
                "ledger \"db\"",
                8080,
                "GET",
                "/api/v1/items/1é?x=é",
            ),
            (
                "payments-api",
                "ledger \"db\"",
                8080,
                "GET",
                "/api/admin/items/1é?x",
            ),
            (
                "payments-api",
                "ledger \"db\"",
                8080,
                "DELETE",
                "/api/v1/items/1é#frag",
            ),
            ("migrator", "ledger \"db\"", 5432, "POST", "/migrate"),
            ("v6-only", "payments-api", 9000, "GET", "/"),
            ("payments-api", "metadata", 80, "GET", "/latest/meta-data"),
        ],
    );
    assert!(allowed >= 1, "no Envoy case was allowed");

    let bank = fixtures::bank();
    let (prepared, artifacts) = opa::emit(&bank, &[seg_ir::ConditionClass::Mtls], None);
    let bank_loaded = bundle::load(opa::artifact(&artifacts, "bundle.tar.gz"));
    let allowed = check_envoy(
        &prepared.program,
        &bank_loaded,
        &[
            ("payments-api", "ledger-postgres", 5432, "GET", "/"),
            ("web-frontend", "ledger-postgres", 5432, "GET", "/"),
            ("payments-sandbox", "ledger-postgres", 5432, "GET", "/"),
            ("payments-worker", "kube-dns", 53, "GET", "/"),
            ("migrator-job", "ledger-replica", 5432, "GET", "/"),
        ],
    );
    assert!(allowed >= 1, "no bank Envoy case was allowed");

    // HTTP/3 runs over UDP; an unknown certificate falls back to the address.
    let mut engine = loaded.engine(Errors::Undefined);
    let mut h3 = inputs::envoy(
        &inputs::Peer {
            principal: Some("spiffe://lab.example/ns/pay/sa/api".into()),
            address: "10.1.2.10".into(),
            port: 1,
        },
        &inputs::Peer {
            principal: None,
            address: "10.1.3.5".into(),
            port: 5432,
        },
        "GET",
        "/",
    );
    h3["attributes"]["request"]["http"]["protocol"] = json!("HTTP/3");
    assert_eq!(
        bundle::eval(&mut engine, &h3, "data.seg.envoy.flow").expect("flow")["protocol"],
        json!("udp")
    );
    assert_eq!(
        bundle::eval(&mut engine, &h3, "data.seg.envoy.allow"),
        Ok(json!(false))
    );
    let stranger = inputs::envoy(
        &inputs::Peer {
            principal: Some("spiffe://elsewhere/x".into()),
            address: "203.0.113.7".into(),
            port: 1,
        },
        &inputs::Peer {
            principal: Some("spiffe://lab.example/ns/pay/sa/api".into()),
            address: "10.1.2.10".into(),
            port: 443,
        },
        "GET",
        "/",
    );
    assert_eq!(
        bundle::eval(&mut engine, &stranger, "data.seg.envoy.allow"),
        Ok(json!(true)),
        "partner address rule"
    );
    let missing_port = with(
        stranger.clone(),
        "/attributes/destination/address/socketAddress/portValue",
        None,
    );
    assert_eq!(
        bundle::eval(&mut engine, &missing_port, "data.seg.envoy.allow"),
        Ok(json!(false))
    );
    assert_eq!(
        bundle::eval(&mut engine, &json!({}), "data.seg.envoy.allow"),
        Ok(json!(false))
    );
}
