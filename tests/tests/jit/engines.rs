//! Expiry to the second in the engines that enforce it themselves, on their
//! own clocks: the kernel (`xt_time --datestop`, network namespaces) and OPA
//! (regorus, `authz.rego` with `input.now` and the Envoy adapter on the real
//! clock). The grant is made with `seg grant` and built with `seg build`.

use crate::iptables::lab::{self, Lab};
use crate::opa::bundle::{self, Errors};
use crate::opa::inputs;
use crate::run::{code, seg_in, shown};
use seg_ir::{Flow, FlowEndpoint, Protocol, Timestamp};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CLIENT: &str = "10.231.0.1";
const SERVER: &str = "10.231.0.2";
/// The grant's port, and one an unexpiring rule allows (the network works).
const GRANTED: u16 = 7100;
const STANDING: u16 = 7101;

const INVENTORY: &str = "version: 1
identities:
  - name: client
    kind: workload
    owner: team-a
    addresses: [10.231.0.1/32]
    spiffe: spiffe://jit.example/client
  - name: server
    kind: workload
    owner: team-a
    addresses: [10.231.0.2/32]
    spiffe: spiffe://jit.example/server
";

const POLICY: &str = "policy base {
  owner \"team-a\"
  allow client -> server on tcp/7101
}
";

/// The real clock, in seconds and as an instant.
fn clock() -> (f64, Timestamp) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    (d.as_secs_f64(), Timestamp(d.as_secs() as i64))
}

/// Sleep until the real clock is at least `t` plus `extra` seconds.
fn sleep_until(t: Timestamp, extra: f64) {
    let target = t.0 as f64 + extra;
    let (now, _) = clock();
    if target > now {
        std::thread::sleep(Duration::from_secs_f64(target - now));
    }
}

/// A project with `targets`, the grant `client -> server on tcp/7100` made by
/// `seg grant` at `now` for `ttl`, and built into `out/` at `now`.
fn granted_project(targets: &str, now: Timestamp, ttl: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let toml = format!("[project]\nname = \"jit\"\n{targets}\n[jit]\nmax-ttl = \"1h\"\n");
    std::fs::write(root.join("seg.toml"), toml).expect("seg.toml");
    std::fs::write(root.join("inventory.yaml"), INVENTORY).expect("inventory");
    std::fs::create_dir(root.join("policy")).expect("mkdir");
    std::fs::write(root.join("policy/base.seg"), POLICY).expect("policy");
    let now = now.to_string();
    let o = seg_in(
        root,
        &[
            "grant",
            "client -> server on tcp/7100",
            "--for",
            ttl,
            "--reason",
            "engine test",
            "--owner",
            "team-a",
            "--now",
            &now,
        ],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let o = seg_in(root, &["build", "--now", &now, "--out", "out"]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    dir
}

/// The grant's end, as `seg grant` wrote it.
fn expiry(root: &Path) -> Timestamp {
    let text = std::fs::read_to_string(root.join("policy/grants.seg")).expect("grants");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("expires "))
        .expect("an expires line");
    Timestamp::parse(line).expect("an instant")
}

/// Whether a TCP connection from `from` (a namespace) to `to` completes.
fn connects(from: &str, to: SocketAddr) -> bool {
    let ns = from.to_string();
    std::thread::spawn(move || {
        lab::enter(&ns).expect("setns");
        TcpStream::connect_timeout(&to, Duration::from_millis(700)).is_ok()
    })
    .join()
    .expect("probe thread")
}

#[test]
fn iptables_stops_a_grant_at_its_second_on_the_kernel_clock() {
    if !lab::tools_or_skip("iptables_stops_a_grant_at_its_second_on_the_kernel_clock") {
        return;
    }
    // The grant ends a few seconds ahead: time to build and load, and little to wait.
    let (_, now) = clock();
    let p = granted_project("[targets.iptables]\n", now, "6s");
    let end = expiry(p.path());
    assert_eq!(end, Timestamp(now.0 + 6));
    let rules = std::fs::read_to_string(p.path().join("out/iptables/server.rules")).expect("rules");
    let datestop = format!(
        "--datestop {}",
        Timestamp(end.0 - 1).to_string().trim_end_matches('Z')
    );
    assert!(rules.contains(&datestop), "no `{datestop}` in:\n{rules}");

    let mut lab = Lab::new("jit").expect("lab");
    let client_ip: IpAddr = CLIENT.parse().expect("ip");
    let server_ip: IpAddr = SERVER.parse().expect("ip");
    let client = lab.add_host("client", &[client_ip]).expect("client");
    let server = lab.add_host("server", &[server_ip]).expect("server");
    for (ns, stem) in [(&client, "client"), (&server, "server")] {
        let dir = p.path().join("out/iptables");
        let rules = std::fs::read_to_string(dir.join(format!("{stem}.rules"))).expect("file");
        // Its own IPv6 file or the shared one, as seg-apply.sh picks it.
        let ip6 = seg_iptables::ip6_file(stem, &rules);
        let ip6 = std::fs::read(dir.join(ip6)).expect("IPv6 file");
        lab::run_in(ns, &["iptables-restore"], Some(rules.as_bytes())).expect("restore");
        lab::run_in(ns, &["ip6tables-restore"], Some(&ip6)).expect("restore");
    }
    // Listeners in the server's namespace until the test ends.
    let stop = Arc::new(AtomicBool::new(false));
    let listening = {
        let (ns, stop) = (server.clone(), Arc::clone(&stop));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            lab::enter(&ns).expect("setns");
            let sockets: Vec<TcpListener> = [GRANTED, STANDING]
                .iter()
                .map(|port| {
                    let s = TcpListener::bind(SocketAddr::new(server_ip, *port)).expect("bind");
                    s.set_nonblocking(true).expect("nonblocking");
                    s
                })
                .collect();
            ready_tx.send(()).expect("ready");
            while !stop.load(Ordering::SeqCst) {
                for s in &sockets {
                    while s.accept().is_ok() {}
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        ready_rx.recv().expect("listeners");
        handle
    };
    let to = |port| SocketAddr::new(server_ip, port);

    let (before_at, _) = clock();
    let before = connects(&client, to(GRANTED));
    assert!(
        before_at < (end.0 - 1) as f64,
        "too slow to probe before the last second: {before_at} vs {end}"
    );
    assert!(before, "the grant did not pass a connection before {end}");
    sleep_until(end, 0.3);
    let after = connects(&client, to(GRANTED));
    let standing = connects(&client, to(STANDING));
    stop.store(true, Ordering::SeqCst);
    let _ = listening.join();
    drop(lab);
    assert!(!after, "the kernel still passed the grant after {end}");
    assert!(
        standing,
        "the unexpiring rule no longer passes: the probe is broken"
    );
}

#[test]
fn opa_allows_a_grant_at_its_last_second_and_denies_it_after() {
    let (_, now) = clock();
    // Ends 3 s ahead of the real clock, for the Envoy adapter, which reads it.
    let p = granted_project("[targets.opa]\n", now, "3s");
    let end = expiry(p.path());
    let (_, program) =
        seg::driver::compile_project(p.path(), Some(now)).expect("the project compiles");
    let tarball = std::fs::read(p.path().join("out/opa/bundle.tar.gz")).expect("bundle");
    let loaded = bundle::load(&tarball);
    let id = |name: &str| program.identity_by_name(name).expect("identity").id;
    let flow = |at: Timestamp| Flow {
        src: FlowEndpoint::Identity(id("client")),
        dst: FlowEndpoint::Identity(id("server")),
        protocol: Protocol::Tcp,
        port: GRANTED,
        at,
        mtls: true,
        method: None,
        path: None,
        context: BTreeMap::new(),
    };
    // authz.rego at an instant of the input: t - 1 s, t, t + 1 s.
    let mut vm = loaded.vm();
    for errors in [Errors::Undefined, Errors::Abort] {
        let mut engine = loaded.engine(errors);
        for (at, want) in [(end.0 - 1, true), (end.0, false), (end.0 + 1, false)] {
            let input = inputs::authz(&program, &flow(Timestamp(at)));
            let got = bundle::eval(&mut engine, &input, "data.seg.authz.allow").expect("allow");
            assert_eq!(got, json!(want), "{errors:?} at {}", Timestamp(at));
            assert_eq!(
                vm.allow(&input),
                Ok(want),
                "register VM at {}",
                Timestamp(at)
            );
            let reference = seg_ir::eval::decide(&program, &flow(Timestamp(at))).allowed;
            assert_eq!(reference, want, "the reference at {}", Timestamp(at));
        }
    }

    // The Envoy adapter decides on the real clock: allowed now, denied from the end on.
    let envoy = || {
        let peer = |spiffe: &str, address: &str, port| inputs::Peer {
            principal: Some(spiffe.to_string()),
            address: address.to_string(),
            port,
        };
        inputs::envoy(
            &peer("spiffe://jit.example/client", CLIENT, 40000),
            &peer("spiffe://jit.example/server", SERVER, GRANTED),
            "GET",
            "/",
        )
    };
    let mut engine = loaded.engine(Errors::Undefined);
    let (before_at, _) = clock();
    let before = bundle::eval(&mut engine, &envoy(), "data.seg.envoy.allow").expect("envoy");
    assert!(
        before_at < (end.0 - 1) as f64,
        "too slow to ask before the last second: {before_at} vs {end}"
    );
    assert_eq!(
        before,
        json!(true),
        "the adapter denied the grant before {end}"
    );
    sleep_until(end, 1.0);
    let after = bundle::eval(&mut engine, &envoy(), "data.seg.envoy.allow").expect("envoy");
    assert_eq!(
        after,
        json!(false),
        "the adapter allowed the grant after {end}"
    );
}
