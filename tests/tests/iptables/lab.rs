//! Throwaway Linux network namespaces for the iptables and nftables tests.
//!
//! A [`Lab`] owns every namespace it creates (names `segipt-<pid>-<n>-…`) and
//! deletes them on drop, so a failing test cleans up too; [`Lab::new`] also
//! removes namespaces left behind by runs whose process is gone. Hosts are
//! wired with veth pairs into a bridge that lives in the lab's own "switch"
//! namespace: nothing here touches the root namespace's interfaces.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const PREFIX: &str = "segipt-";
static LABS: AtomicUsize = AtomicUsize::new(0);

/// Run a command; `Err` carries its stderr (or the spawn error).
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Result<String, String> {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("`{}`: {e}", args.join(" ")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)
            .map_err(|e| format!("`{}`: writing stdin: {e}", args.join(" ")))?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` exited with {}: {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// Run a command inside a namespace.
pub fn run_in(ns: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<String, String> {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    run(&full, stdin)
}

/// Whether the tools and kernel features the tests need are here; `Err` says what is missing.
pub fn check_tools() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    for tool in [
        ["iptables-restore", "--version"],
        ["ip6tables-restore", "--version"],
        ["ipset", "--version"],
        ["ip", "-V"],
    ] {
        run(&tool, None).map_err(|e| format!("`{}` is not usable: {e}", tool[0]))?;
    }
    let lab = Lab::new("probe").map_err(|e| format!("cannot create a network namespace: {e}"))?;
    let ns = lab.namespace(0);
    run_in(
        &ns,
        &[
            "iptables",
            "-A",
            "INPUT",
            "-m",
            "time",
            "--timestart",
            "01:00",
            "-m",
            "comment",
            "--comment",
            "x",
            "-j",
            "ACCEPT",
        ],
        None,
    )
    .map_err(|e| format!("`-m time`/`-m comment` unusable: {e}"))?;
    Ok(())
}

/// `true` when the test should run. Without the tools: panics under `CI=true`,
/// else prints why and returns `false` (the test is skipped).
pub fn tools_or_skip(test: &str) -> bool {
    match check_tools() {
        Ok(()) => true,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "{test}: the iptables verification needs iptables, ipset and `ip netns` (CI=true): {why}"
            )
        }
        Err(why) => {
            eprintln!("skipping {test}: {why} (run scripts/install-test-deps as root)");
            false
        }
    }
}

/// Whether `nft` works in a network namespace; `Err` says what is missing.
pub fn check_nft() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    run(&["nft", "--version"], None).map_err(|e| format!("`nft` is not usable: {e}"))?;
    run(&["ip", "-V"], None).map_err(|e| format!("`ip` is not usable: {e}"))?;
    let lab =
        Lab::new("nftprobe").map_err(|e| format!("cannot create a network namespace: {e}"))?;
    run_in(
        &lab.namespace(0),
        &["nft", "-c", "-f", "-"],
        Some(b"table inet t {\n chain c {\n  meta hour 3600-7199 meta day 1 meta time < 1 accept\n }\n}\n"),
    )
    .map_err(|e| format!("`nft -c` unusable: {e}"))?;
    Ok(())
}

/// [`tools_or_skip`] for the nftables tests (`nft`, `ip netns`).
pub fn nft_or_skip(test: &str) -> bool {
    match check_nft() {
        Ok(()) => true,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: the nftables verification needs nft and `ip netns` (CI=true): {why}")
        }
        Err(why) => {
            eprintln!("skipping {test}: {why} (run scripts/install-test-deps as root)");
            false
        }
    }
}

/// A set of namespaces deleted together.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
}

impl Lab {
    /// A lab with one namespace (index 0, the switch) holding bridge `br0`.
    pub fn new(tag: &str) -> Result<Lab, String> {
        clean_stale();
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        let mut lab = Lab {
            prefix: format!("{PREFIX}{}-{n}-{tag}", std::process::id()),
            namespaces: Vec::new(),
        };
        let sw = lab.add_namespace("sw")?;
        run(
            &["ip", "-n", &sw, "link", "add", "br0", "type", "bridge"],
            None,
        )?;
        run(&["ip", "-n", &sw, "link", "set", "br0", "up"], None)?;
        Ok(lab)
    }

    pub fn namespace(&self, i: usize) -> String {
        self.namespaces[i].clone()
    }

    pub fn add_namespace(&mut self, name: &str) -> Result<String, String> {
        let ns = format!("{}-{name}", self.prefix);
        run(&["ip", "netns", "add", &ns], None)?;
        self.namespaces.push(ns.clone());
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"], None)?;
        Ok(ns)
    }

    /// A host namespace on the switch with these addresses, each as a /32 or
    /// /128 with an on-link default route (every host is one hop from every other).
    pub fn add_host(&mut self, name: &str, ips: &[IpAddr]) -> Result<String, String> {
        let ns = self.add_namespace(name)?;
        let sw = self.namespaces[0].clone();
        let port = format!("p{}", self.namespaces.len() - 1);
        run(
            &[
                "ip", "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ],
            None,
        )?;
        run(
            &["ip", "-n", &sw, "link", "set", &port, "master", "br0"],
            None,
        )?;
        run(&["ip", "-n", &sw, "link", "set", &port, "up"], None)?;
        run(&["ip", "-n", &ns, "link", "set", "eth0", "up"], None)?;
        let (mut v4, mut v6) = (false, false);
        for ip in ips {
            match ip {
                IpAddr::V4(a) => {
                    run(
                        &[
                            "ip",
                            "-n",
                            &ns,
                            "addr",
                            "add",
                            &format!("{a}/32"),
                            "dev",
                            "eth0",
                        ],
                        None,
                    )?;
                    v4 = true;
                }
                IpAddr::V6(a) => {
                    run(
                        &[
                            "ip",
                            "-n",
                            &ns,
                            "addr",
                            "add",
                            &format!("{a}/128"),
                            "dev",
                            "eth0",
                            "nodad",
                        ],
                        None,
                    )?;
                    v6 = true;
                }
            }
        }
        if v4 {
            run(
                &["ip", "-n", &ns, "route", "add", "default", "dev", "eth0"],
                None,
            )?;
        }
        if v6 {
            run(
                &[
                    "ip", "-n", &ns, "-6", "route", "add", "default", "dev", "eth0",
                ],
                None,
            )?;
        }
        Ok(ns)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Hosts first, then the switch; deleting a namespace removes its veth ends.
        for ns in self.namespaces.iter().rev() {
            let _ = run(&["ip", "netns", "del", ns], None);
        }
    }
}

/// Delete `segipt-<pid>-…` namespaces whose process no longer exists.
fn clean_stale() {
    let Ok(list) = run(&["ip", "netns", "list"], None) else {
        return;
    };
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(&["ip", "netns", "del", name], None);
        }
    }
}

/// Move the calling thread into a namespace (sockets it creates afterwards live there).
pub fn enter(ns: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: `file` is an open namespace file for the duration of the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
