//! Objects → files: `<namespace>/<name>.yaml`, one object each,
//! `kustomization.yaml` at the root of the target folder listing them all,
//! and beside it the ApplySet parent and its CRD ([`applyset`]).
//!
//! Every file starts with a YAML comment naming the seg version and the
//! hash of the program's meaning for this target (`seg_ir::meaning::digest`).
//! YAML comes from the typed models through serde-saphyr, which quotes every
//! string a YAML 1.1 reader (the API machinery, PyYAML) would take for
//! something else (`yes`, `0777`, `1:20`), so a hostile value can never
//! change the structure; a NetworkPolicy whose strings are all of the plain
//! forms of [`crate::yaml`] is written there by hand instead, to the same
//! bytes, because serde was most of the target's time.

use crate::applyset;
use crate::model::{Kustomization, NetworkPolicy};
use seg_ir::{Artifact, Bugs, Object, Program, Sink};
use serde::Serialize;

pub const KUSTOMIZATION: &str = "kustomization.yaml";

/// The files, each handed to a sink as soon as it is made (a policy is
/// dropped once its file is), and the objects they hold (for the build's
/// object inventory).
pub struct Files<'a> {
    /// The first line of every file (it names the meaning).
    header: String,
    sink: &'a dyn Sink,
    objects: Vec<Object>,
    /// The policies' files, for the kustomization.
    resources: Vec<String>,
    /// The hand-written YAML of the policy being added, reused.
    body: String,
}

impl<'a> Files<'a> {
    pub fn new(meaning: &str, sink: &'a dyn Sink) -> Files<'a> {
        Files {
            header: header(meaning),
            sink,
            objects: Vec::new(),
            resources: Vec::new(),
            body: String::new(),
        }
    }

    /// One policy's file.
    pub fn add(&mut self, policy: NetworkPolicy, bugs: &mut Bugs) {
        // Namespace and name are DNS-1123 labels (checked before), so the path
        // has exactly two plain components.
        let path = format!(
            "{}/{}.yaml",
            policy.metadata.namespace, policy.metadata.name
        );
        let written = match crate::yaml::network_policy(&policy, &mut self.body) {
            Some(()) => Some(with_header(&self.header, &self.body)),
            None => yaml(&self.header, &policy, bugs),
        };
        if let Some(contents) = written {
            let name = format!("{}/{}", policy.metadata.namespace, policy.metadata.name);
            let body = &contents[self.header.len()..];
            self.objects
                .push(Object::new("NetworkPolicy", name, &path, body));
            self.resources.push(path.clone());
            self.sink.put(Artifact { path, contents });
        }
    }

    /// The files that list the policies' (when there is any), and every
    /// object, sorted.
    pub fn finish(mut self, program: &Program, bugs: &mut Bugs) -> Vec<Object> {
        let (header, sink) = (self.header.as_str(), self.sink);
        if self.resources.is_empty() {
            self.objects.sort();
            return self.objects;
        }
        // The ApplySet parent and its CRD: applied before the objects, and not
        // listed in the kustomization (kubectl would label them members).
        let crd = applyset::crd();
        let parent = applyset::parent(&program.project);
        if let Some(contents) = yaml(header, &crd, bugs) {
            let path = applyset::CRD_FILE.to_string();
            let body = &contents[header.len()..];
            self.objects
                .push(Object::new(crd.kind, crd.metadata.name, &path, body));
            sink.put(Artifact { path, contents });
        }
        if let Some(contents) = yaml(header, &parent, bugs) {
            let path = applyset::PARENT_FILE.to_string();
            let body = &contents[header.len()..];
            self.objects
                .push(Object::new(parent.kind, parent.metadata.name, &path, body));
            sink.put(Artifact { path, contents });
        }
        self.resources.sort();
        let kustomization = Kustomization {
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            resources: self.resources,
        };
        if let Some(contents) = yaml(header, &kustomization, bugs) {
            sink.put(Artifact {
                path: KUSTOMIZATION.into(),
                contents,
            });
        }
        self.objects.sort();
        self.objects
    }
}

/// The file: `header`, then the YAML.
fn yaml<T: Serialize>(header: &str, value: &T, bugs: &mut Bugs) -> Option<Vec<u8>> {
    match saphyr(value) {
        Ok(body) => Some(with_header(header, &body)),
        Err(e) => {
            bugs.push(format!("cannot write a kubernetes object as YAML: {e}"));
            None
        }
    }
}

/// `value` as YAML through serde-saphyr.
pub(crate) fn saphyr<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let options = serde_saphyr::ser_options! { min_fold_chars: usize::MAX };
    serde_saphyr::to_string_with_options(value, options)
}

fn header(meaning: &str) -> String {
    format!(
        "# generated by seg {} from meaning {meaning}: do not edit\n",
        env!("CARGO_PKG_VERSION"),
    )
}

/// The file: `header`, then `body`.
fn with_header(header: &str, body: &str) -> Vec<u8> {
    let mut contents = Vec::with_capacity(header.len() + body.len());
    contents.extend_from_slice(header.as_bytes());
    contents.extend_from_slice(body.as_bytes());
    contents
}
