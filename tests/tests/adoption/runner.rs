//! What a GitHub Actions runner does for a `run:` step, enough to run the workflow `seg init`
//! writes and the composite action here on this machine: bash `-eo pipefail` in the step's
//! folder, `$GITHUB_PATH` (folders put in front of PATH for later steps), `$GITHUB_OUTPUT`
//! (the step's outputs), `$RUNNER_TEMP` and `$GITHUB_WORKSPACE`.

use super::run::shown;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Runner {
    temp: tempfile::TempDir,
    /// `$RUNNER_TEMP`.
    pub runner_temp: PathBuf,
    github_path: PathBuf,
    /// `$GITHUB_WORKSPACE`: the checked-out repository.
    pub workspace: PathBuf,
    /// Every step's name, command and output.
    pub log: String,
}

impl Runner {
    pub fn new(workspace: &Path) -> Runner {
        let temp = tempfile::tempdir().expect("runner temp");
        let github_path = temp.path().join("github_path");
        std::fs::write(&github_path, "").expect("GITHUB_PATH");
        let runner_temp = temp.path().join("runner");
        std::fs::create_dir(&runner_temp).expect("RUNNER_TEMP");
        Runner {
            temp,
            runner_temp,
            github_path,
            workspace: workspace.to_path_buf(),
            log: String::new(),
        }
    }

    /// Put `dir` in front of PATH for the steps that follow, as `>> $GITHUB_PATH` does.
    pub fn add_path(&mut self, dir: &Path) {
        let mut lines = std::fs::read_to_string(&self.github_path).expect("GITHUB_PATH");
        lines.push_str(&format!("{}\n", dir.display()));
        std::fs::write(&self.github_path, lines).expect("GITHUB_PATH");
    }

    /// Run one `run:` step in `dir` (relative to the workspace); whether it succeeded,
    /// and the outputs it wrote.
    pub fn bash(
        &mut self,
        label: &str,
        script: &str,
        dir: &str,
        env: &BTreeMap<String, String>,
    ) -> (bool, BTreeMap<String, String>) {
        self.log.push_str(&format!("== {label}\n"));
        let output_file = self.temp.path().join("github_output");
        std::fs::write(&output_file, "").expect("GITHUB_OUTPUT");
        let added: Vec<String> = std::fs::read_to_string(&self.github_path)
            .expect("GITHUB_PATH")
            .lines()
            .rev()
            .map(String::from)
            .collect();
        let o = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(self.workspace.join(dir))
            .env_clear()
            .envs(env)
            .env("PATH", path_with(&added))
            .env("HOME", self.temp.path())
            .env("GITHUB_PATH", &self.github_path)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("RUNNER_TEMP", &self.runner_temp)
            .env("RUNNER_OS", "Linux")
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .output()
            .expect("run bash");
        self.log.push_str(&shown(&o));
        let outputs = std::fs::read_to_string(&output_file)
            .expect("GITHUB_OUTPUT")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (o.status.success(), outputs)
    }
}

/// The system's PATH with `added` in front, and no `seg` on it but what `added` holds.
fn path_with(added: &[String]) -> std::ffi::OsString {
    let system = std::env::var_os("PATH").unwrap_or_default();
    let dirs = added
        .iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&system).filter(|d| !d.join("seg").exists()));
    std::env::join_paths(dirs).expect("PATH")
}
