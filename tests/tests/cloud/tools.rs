//! The third-party tools of the cloud tests, from the project's venv
//! (`SEG_VENV`, default `<repo>/.venv`, filled by `scripts/install-test-deps`
//! from `scripts/requirements/cloud.txt`): `cfn-lint`, `moto_server` with
//! boto3, and the compute v1 discovery document of `google-api-python-client`.
//!
//! A missing tool skips the test with a message, or fails it under `CI=true`.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use seg_tests::tools::{repo, require, venv};

pub fn python() -> Option<PathBuf> {
    require("python of the venv", venv().join("bin/python"))
}

pub fn cfn_lint() -> Option<PathBuf> {
    require("cfn-lint", venv().join("bin/cfn-lint"))
}

/// The compute v1 discovery document shipped in google-api-python-client.
pub fn compute_discovery() -> Option<PathBuf> {
    let lib = venv().join("lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|dirs| {
        dirs.flatten()
            .map(|d| {
                d.path()
                    .join("site-packages/googleapiclient/discovery_cache/documents/compute.v1.json")
            })
            .find(|p| p.exists())
    });
    require(
        "compute.v1.json of google-api-python-client",
        found.unwrap_or_else(|| lib.join("python3/site-packages/googleapiclient")),
    )
}

/// A script of `tests/oracles/cloud/`.
pub fn oracle(name: &str) -> PathBuf {
    repo().join("tests/oracles/cloud").join(name)
}

/// Run the venv's python on a script; stdout on success, panic with stderr otherwise.
pub fn run_python(python: &Path, script: &Path, args: &[&str], env: &[(&str, String)]) -> String {
    let mut cmd = Command::new(python);
    cmd.arg(script).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}\n{}",
        script.display(),
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Write files into a fresh temporary folder.
pub fn write_all(dir: &Path, files: &[(String, Vec<u8>)]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|(name, bytes)| {
            let p = dir.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            let mut f = std::fs::File::create(&p).expect("create");
            f.write_all(bytes).expect("write");
            p
        })
        .collect()
}

/// A local moto server, stopped (and reaped) when dropped, even on panic.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Option<Moto> {
        let bin = require("moto_server", venv().join("bin/moto_server"))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
