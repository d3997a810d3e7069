//! The objects of a previous build, read back from the `report.json` it
//! wrote, to compare with a new build (`seg build` lists what the new output
//! removes; `seg_ir::objects::compare_builds` does the comparison).

use seg_ir::objects::{BuildObjects, Object};
use serde::Deserialize;
use std::path::Path;

/// What a previous output folder tells about its objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreviousBuild {
    /// Targets whose report lists their objects.
    pub objects: BuildObjects,
    /// Targets in the report without an object list (written by an older seg).
    pub unlisted: Vec<String>,
}

#[derive(Deserialize)]
struct Report {
    tool: String,
    #[serde(default)]
    targets: Vec<TargetEntry>,
}

#[derive(Deserialize)]
struct TargetEntry {
    target: String,
    objects: Option<Vec<Object>>,
}

/// The objects recorded in `<out>/report.json`: `Ok(None)` when `out` holds
/// no previous build (missing or empty folder), `Err` when it holds something
/// seg did not write or a report that cannot be read.
pub fn previous_build(out: &Path) -> Result<Option<PreviousBuild>, String> {
    if !out.exists() || out.read_dir().is_ok_and(|mut d| d.next().is_none()) {
        return Ok(None);
    }
    let path = out.join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "`{}` holds no seg build report (`report.json`: {e})",
            out.display()
        )
    })?;
    read_report(&text)
        .map(Some)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// The objects of a `report.json` text (see [`previous_build`]).
pub fn read_report(text: &str) -> Result<PreviousBuild, String> {
    let report: Report = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if report.tool != "seg" {
        return Err(format!(
            "written by `{}`, not seg",
            report.tool.escape_debug()
        ));
    }
    let mut previous = PreviousBuild::default();
    for t in report.targets.into_iter().filter(|t| t.target != "ir") {
        match t.objects {
            Some(list) => {
                previous.objects.insert(t.target, list);
            }
            None => previous.unlisted.push(t.target),
        }
    }
    Ok(previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_objects_of_each_target() {
        let text = r#"{"tool": "seg", "version": "0.1.0", "targets": [
            {"target": "ir", "objects": []},
            {"target": "kubernetes", "rules": 3, "objects": [
                {"kind": "NetworkPolicy", "name": "a/seg-x", "file": "a/seg-x.yaml", "digest": "00"}]},
            {"target": "gcp", "rules": 1}]}"#;
        let p = read_report(text).unwrap();
        assert_eq!(p.objects.len(), 1);
        assert_eq!(p.objects["kubernetes"][0].name, "a/seg-x");
        assert_eq!(p.unlisted, ["gcp"]);
    }

    #[test]
    fn refuses_what_seg_did_not_write() {
        assert!(read_report("{\"tool\": \"other\"}").is_err());
        assert!(read_report("not json").is_err());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(previous_build(&dir.path().join("none")), Ok(None));
        assert_eq!(previous_build(dir.path()), Ok(None));
        std::fs::write(dir.path().join("x"), "x").unwrap();
        let err = previous_build(dir.path()).unwrap_err();
        assert!(err.contains("no seg build report"), "{err}");
    }
}
