//! The projects the hostile values are written into. Each has *slots*, one
//! per (position, value); a slot holds either its hostile value or a benign
//! stand-in (`n-12`), and the same project with every slot benign is the
//! baseline whose output structure the hostile build must keep.
//!
//! - `inventory`: one identity per value carrying it as name, owner, label
//!   key and value, attribute value and credential type, and one carrying it
//!   in its SPIFFE ID, Kubernetes namespace, pod label key and value, service
//!   account, AWS group and GCP service account; policy files select each by
//!   the value (quoted name, `owner ==`, `has(labels."…")`, `labels.lv ==`,
//!   `team ==`), so a value must round-trip through both readers.
//! - `policy`: one `.seg` file per slot, with the value as a rule's reason or
//!   owner, a policy's owner or name, a rule's or policy's doc comment, a
//!   segment or service name, a context or enum value, a request path glob or
//!   method, a test name, or the file's own name; each slot has its own port.
//! - `manifest`: the project name in seg.toml, one build per value.

use super::corpus::Value;
use super::text::{self, Tree};
use serde_json::{Value as Json, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    // Inventory, identity `a-…`/hostile name.
    Name,
    Owner,
    LabelKey,
    LabelValue,
    Attribute,
    CredentialType,
    // Inventory, identity `b-<k>`.
    Spiffe,
    Namespace,
    PodLabelKey,
    PodLabelValue,
    ServiceAccount,
    SecurityGroup,
    GcpAccount,
    // Policy files.
    Reason,
    RuleOwner,
    PolicyOwner,
    Doc,
    PolicyDoc,
    PolicyName,
    SegmentName,
    ServiceName,
    ContextValue,
    EnumValue,
    RequestPath,
    RequestMethod,
    TestName,
    FileName,
    // seg.toml.
    ProjectName,
}

pub const INVENTORY_FIELDS: [Field; 13] = [
    Field::Name,
    Field::Owner,
    Field::LabelKey,
    Field::LabelValue,
    Field::Attribute,
    Field::CredentialType,
    Field::Spiffe,
    Field::Namespace,
    Field::PodLabelKey,
    Field::PodLabelValue,
    Field::ServiceAccount,
    Field::SecurityGroup,
    Field::GcpAccount,
];

pub const POLICY_FIELDS: [Field; 14] = [
    Field::Reason,
    Field::RuleOwner,
    Field::PolicyOwner,
    Field::Doc,
    Field::PolicyDoc,
    Field::PolicyName,
    Field::SegmentName,
    Field::ServiceName,
    Field::ContextValue,
    Field::EnumValue,
    Field::RequestPath,
    Field::RequestMethod,
    Field::TestName,
    Field::FileName,
];

const GCP_DOMAIN: &str = "hostile-proj.iam.gserviceaccount.com";
const SPIFFE: &str = "spiffe://example.org/";
pub const NOW: &str = "2026-11-24T00:00:00Z";
/// When the probes decide (inside every rule's lifetime).
const DECIDE_AT: &str = "2026-11-24T12:00:00Z";

impl Field {
    pub fn name(self) -> String {
        format!("{self:?}")
    }

    /// The stand-in for value `k`: plain, distinct, valid everywhere.
    fn benign(self, k: usize) -> String {
        match self {
            Field::Name => format!("n-{k}"),
            Field::Owner => format!("o-{k}"),
            Field::LabelKey => format!("lk-{k}"),
            Field::LabelValue => format!("lv-{k}"),
            Field::Attribute => format!("t-{k}"),
            Field::CredentialType => format!("c-{k}"),
            Field::Spiffe => format!("{SPIFFE}b-{k}"),
            Field::Namespace => format!("ns-{k}"),
            Field::PodLabelKey => format!("pk-{k}"),
            Field::PodLabelValue => format!("pv-{k}"),
            Field::ServiceAccount => format!("sa-{k}"),
            Field::SecurityGroup => format!("sg-{:08x}", k + 1),
            Field::GcpAccount => format!("b{k}@{GCP_DOMAIN}"),
            Field::Reason => format!("r-{k}"),
            Field::RuleOwner => format!("ro-{k}"),
            Field::PolicyOwner => format!("po-{k}"),
            Field::Doc => format!("d-{k}"),
            Field::PolicyDoc => format!("pd-{k}"),
            Field::PolicyName => format!("pn-{k}"),
            Field::SegmentName => format!("sn-{k}"),
            Field::ServiceName => format!("sv-{k}"),
            Field::ContextValue => format!("cv-{k}"),
            Field::EnumValue => format!("ev-{k}"),
            Field::RequestPath => format!("/rp-{k}"),
            Field::RequestMethod => format!("m-{k}"),
            Field::TestName => format!("tn-{k}"),
            Field::FileName => format!("fn-{k}"),
            Field::ProjectName => "hostile".to_string(),
        }
    }

    /// The hostile value as it is written: inside the part of a formatted
    /// value a user controls (a SPIFFE path, an email's local part).
    fn wrap(self, v: &str) -> String {
        match self {
            Field::Spiffe => format!("{SPIFFE}{v}"),
            Field::GcpAccount => format!("{v}@{GCP_DOMAIN}"),
            _ => v.to_string(),
        }
    }
}

/// One position holding one value.
#[derive(Clone, Debug)]
pub struct Slot {
    pub field: Field,
    /// Index into [`Case::values`].
    pub value: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Inventory,
    Policy,
    Manifest,
}

pub struct Case {
    pub name: String,
    pub kind: Kind,
    pub values: Vec<Value>,
    pub slots: Vec<Slot>,
    /// Whether AWS emits CloudFormation besides Terraform.
    pub cloudformation: bool,
    /// The `--target` list.
    pub targets: &'static str,
}

/// Every target.
pub const ALL_TARGETS: &str = "ir,iptables,kubernetes,aws,gcp,opa";

/// An OPA decision the bundle must give.
pub struct Probe {
    pub what: String,
    pub input: Json,
    pub allow: bool,
}

impl Case {
    /// Every inventory field; Terraform only on AWS (CloudFormation allows
    /// 500 resources per template).
    pub fn inventory(values: Vec<Value>) -> Case {
        Case::inventory_fields("inventory", values, &INVENTORY_FIELDS, false)
    }

    /// Identity names only, built for AWS alone (the inventory case covers
    /// the other targets), small enough for a CloudFormation template.
    pub fn names(name: &str, values: Vec<Value>) -> Case {
        Case {
            targets: "aws",
            ..Case::inventory_fields(name, values, &[Field::Name], true)
        }
    }

    fn inventory_fields(name: &str, values: Vec<Value>, fields: &[Field], cfn: bool) -> Case {
        let slots = (0..values.len())
            .flat_map(|value| fields.iter().map(move |&field| Slot { field, value }))
            .collect();
        Case {
            name: name.into(),
            kind: Kind::Inventory,
            values,
            slots,
            cloudformation: cfn,
            targets: ALL_TARGETS,
        }
    }

    pub fn policy(values: Vec<Value>) -> Case {
        assert!(values.len() < 200, "ports are 10000 + 200 * field + value");
        let slots = POLICY_FIELDS
            .iter()
            .flat_map(|&field| (0..values.len()).map(move |value| Slot { field, value }))
            .filter(|s| s.field != Field::FileName || file_name_ok(&values[s.value].text))
            .collect();
        Case {
            name: "policy".into(),
            kind: Kind::Policy,
            values,
            slots,
            cloudformation: false,
            targets: ALL_TARGETS,
        }
    }

    /// One case per value (seg.toml holds one project name).
    pub fn manifest(value: Value) -> Case {
        Case {
            name: format!("manifest/{}", value.label),
            kind: Kind::Manifest,
            values: vec![value],
            slots: vec![Slot {
                field: Field::ProjectName,
                value: 0,
            }],
            cloudformation: true,
            targets: ALL_TARGETS,
        }
    }

    /// `Field:value-label`, for messages.
    pub fn label(&self, slot: usize) -> String {
        let s = &self.slots[slot];
        format!("{}:{}", s.field.name(), self.values[s.value].label)
    }

    /// The benign value of `field` for value `k` (what a field without a slot holds).
    pub fn benign(&self, field: Field, k: usize) -> String {
        field.benign(k)
    }

    /// The text slot `slot` holds under `hostile`.
    pub fn text(&self, slot: usize, hostile: &[bool]) -> String {
        let s = &self.slots[slot];
        if hostile[slot] {
            s.field.wrap(&self.values[s.value].text)
        } else {
            s.field.benign(s.value)
        }
    }

    fn find(&self, field: Field, value: usize) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.field == field && s.value == value)
    }

    /// The slots of value `k` in these fields.
    fn fields_of(&self, fields: &[Field], k: usize) -> Vec<usize> {
        fields.iter().filter_map(|&f| self.find(f, k)).collect()
    }

    /// The project's files, with every slot's places.
    pub fn render(&self, hostile: &[bool]) -> Tree {
        let mut tree = Tree::default();
        match self.kind {
            Kind::Inventory => self.render_inventory(&mut tree, hostile),
            Kind::Policy => self.render_policy(&mut tree, hostile),
            Kind::Manifest => {}
        }
        let name = match self.kind {
            Kind::Manifest => Some(0),
            _ => None,
        };
        let project = name.map_or_else(|| "hostile".to_string(), |s| self.text(s, hostile));
        let mut f = tree.file("seg.toml");
        f.push("[project]\nname = ")
            .slot(name, &text::toml(&project))
            .push(concat!(
                "\ninventory = [\"inventory.yaml\"]\nsources = [\"policy/**/*.seg\"]\n\n",
                "[targets.iptables]\n[targets.nftables]\n[targets.kubernetes]\n[targets.istio]\n[targets.aws]\nmax-rules-per-group = 1000\nmax-groups-per-interface = 1\n",
            ))
            .push(if self.cloudformation {
                "formats = [\"terraform\", \"cloudformation\"]\n"
            } else {
                "formats = [\"terraform\"]\n"
            })
            .push("[targets.gcp]\nnetwork = \"hostile-net\"\n[targets.opa]\n");
        f.done();
        if self.kind == Kind::Manifest {
            let mut inv = tree.file("inventory.yaml");
            inv.push(INVENTORY_HEAD);
            host(&mut inv, "client", 0, 1);
            host(&mut inv, "server", 0, 2);
            inv.done();
            let mut p = tree.file("policy/main.seg");
            p.push("policy main {\n  owner \"team\"\n  allow client -> server on tcp/443\n}\n");
            p.done();
        }
        tree
    }

    fn render_inventory(&self, tree: &mut Tree, hostile: &[bool]) {
        // A field without a slot in this case holds its benign value.
        let t = |field: Field, k: usize| match self.find(field, k) {
            Some(s) => (Some(s), self.text(s, hostile)),
            None => (None, field.benign(k)),
        };
        let mut inv = tree.file("inventory.yaml");
        inv.push(INVENTORY_HEAD);
        host(&mut inv, "client", 0, 1);
        host(&mut inv, "server", 0, 2);
        for k in 0..self.values.len() {
            let start = inv.len();
            yaml_field(&mut inv, t(Field::Name, k), "  - name: ");
            inv.push("\n    kind: workload");
            yaml_field(&mut inv, t(Field::Owner, k), "\n    owner: ");
            yaml_field(
                &mut inv,
                t(Field::Attribute, k),
                "\n    attributes:\n      team: ",
            );
            // Explicit keys: an implicit one may not exceed 1024 characters.
            yaml_field(&mut inv, t(Field::LabelKey, k), "\n    labels:\n      ? ");
            inv.push("\n      : \"x\"");
            yaml_field(&mut inv, t(Field::LabelValue, k), "\n      lv: ");
            inv.push(&format!(
                "\n    addresses: [\"10.1.{}.{}/32\", \"fd00:1::{:x}/128\"]",
                k / 200,
                k % 200 + 1,
                k + 1
            ));
            inv.push(&format!(
                "\n    kubernetes:\n      namespace: names\n      labels:\n        slot: n-{k}\n    aws: {{}}\n    gcp:\n      service_account: a{k}@{GCP_DOMAIN}"
            ));
            yaml_field(
                &mut inv,
                t(Field::CredentialType, k),
                "\n    credential:\n      type: ",
            );
            inv.push("\n");
            inv.region(start, self.fields_of(&INVENTORY_FIELDS[..6], k));

            if self.fields_of(&INVENTORY_FIELDS[6..], k).is_empty() {
                continue;
            }
            let start = inv.len();
            inv.push(&format!(
                "  - name: b-{k}\n    kind: workload\n    owner: team\n    addresses: [\"10.2.{}.{}/32\"]",
                k / 200,
                k % 200 + 1
            ));
            yaml_field(
                &mut inv,
                t(Field::Namespace, k),
                "\n    kubernetes:\n      namespace: ",
            );
            yaml_field(
                &mut inv,
                t(Field::PodLabelKey, k),
                "\n      labels:\n        ? ",
            );
            inv.push("\n        : \"x\"");
            yaml_field(&mut inv, t(Field::PodLabelValue, k), "\n        app: ");
            yaml_field(
                &mut inv,
                t(Field::ServiceAccount, k),
                "\n      service_account: ",
            );
            yaml_field(
                &mut inv,
                t(Field::SecurityGroup, k),
                "\n    aws:\n      security_group: ",
            );
            yaml_field(
                &mut inv,
                t(Field::GcpAccount, k),
                "\n    gcp:\n      service_account: ",
            );
            yaml_field(&mut inv, t(Field::Spiffe, k), "\n    spiffe: ");
            inv.push("\n");
            inv.region(start, self.fields_of(&INVENTORY_FIELDS[6..], k));
        }
        inv.done();

        type Pred = fn(&str) -> String;
        let selections: [(Field, u16, Pred); 4] = [
            (Field::Owner, 1001, |v| {
                format!("identities where owner == {}", text::seg(v))
            }),
            (Field::LabelKey, 1002, |v| {
                format!("identities where has(labels.{})", text::seg(v))
            }),
            (Field::LabelValue, 1003, |v| {
                format!("identities where labels.lv == {}", text::seg(v))
            }),
            (Field::Attribute, 1004, |v| {
                format!("identities where team == {}", text::seg(v))
            }),
        ];
        for k in 0..self.values.len() {
            let name_slot = self.find(Field::Name, k);
            let mut f = tree.file(&format!("policy/a-{k}.seg"));
            f.push(&format!("policy a-{k} {{\n  owner \"team\"\n"));
            if let Some(slot) = name_slot {
                let n = text::seg(&self.text(slot, hostile));
                f.push("  allow ")
                    .slot(name_slot, &n)
                    .push(" -> server on tcp/443\n  allow client -> ")
                    .slot(name_slot, &n)
                    .push(" on tcp/8443\n");
            }
            for (field, port, pred) in selections {
                let Some(slot) = self.find(field, k) else {
                    continue;
                };
                f.push("  allow (");
                let start = f.len();
                f.push(&pred(&self.text(slot, hostile)));
                f.region(start, vec![slot]);
                f.push(&format!(") -> server on tcp/{port}\n"));
            }
            f.push("}\n");
            // An error elsewhere in the file is blamed on the value's A-fields.
            f.region(0, self.fields_of(&INVENTORY_FIELDS[..6], k));
            f.done();
            if self.fields_of(&INVENTORY_FIELDS[6..], k).is_empty() {
                continue;
            }
            let mut b = tree.file(&format!("policy/b-{k}.seg"));
            b.push(&format!(
                "policy b-{k} {{\n  owner \"team\"\n  allow client -> b-{k} on tcp/2000\n}}\n"
            ));
            b.region(0, self.fields_of(&INVENTORY_FIELDS[6..], k));
            b.done();
        }
    }

    fn render_policy(&self, tree: &mut Tree, hostile: &[bool]) {
        let mut inv = tree.file("inventory.yaml");
        inv.push(INVENTORY_HEAD);
        for (f, _) in POLICY_FIELDS.iter().enumerate() {
            host(&mut inv, &format!("c-{f}"), f, 1);
            host(&mut inv, &format!("s-{f}"), f, 2);
        }
        inv.done();
        let mut common = tree.file("policy/common.seg");
        common.push("context { region: string }\n");
        common.done();
        for (slot, s) in self.slots.iter().enumerate() {
            let v = self.text(slot, hostile);
            let f = POLICY_FIELDS
                .iter()
                .position(|&x| x == s.field)
                .expect("policy field");
            let k = s.value;
            let port = self.port(slot);
            let quoted = text::seg(&v);
            let file = if s.field == Field::FileName {
                format!("policy/{v}.seg")
            } else {
                format!("policy/{}-{k}.seg", s.field.name())
            };
            let mine = |field: Field| (s.field == field).then_some(slot);
            let mut w = tree.file(&file);
            if s.field == Field::PolicyDoc {
                doc(&mut w, slot, "", &v);
            }
            w.push("policy ");
            match mine(Field::PolicyName) {
                Some(_) => w.slot(Some(slot), &quoted),
                None => w.push(&format!("f{f}-{k}")),
            };
            w.push(" {\n  owner ");
            match mine(Field::PolicyOwner) {
                Some(_) => w.slot(Some(slot), &quoted),
                None => w.push("\"team\""),
            };
            w.push("\n");
            if s.field == Field::Doc {
                doc(&mut w, slot, "  ", &v);
            }
            w.push("  allow ");
            match mine(Field::SegmentName) {
                Some(_) => w.slot(Some(slot), &quoted),
                None => w.push(&format!("c-{f}")),
            };
            w.push(&format!(" -> s-{f} on "));
            match mine(Field::ServiceName) {
                Some(_) => w.slot(Some(slot), &quoted),
                None => w.push(&format!("tcp/{port}")),
            };
            let clause = match s.field {
                Field::Reason => Some(" reason "),
                Field::RuleOwner => Some(" owner "),
                Field::ContextValue => Some(" when context.region == "),
                Field::RequestPath => Some(" when request.path matches "),
                Field::RequestMethod => Some(" when request.method in ["),
                _ => None,
            };
            if let Some(c) = clause {
                w.push(c).slot(Some(slot), &quoted);
                if s.field == Field::RequestMethod {
                    w.push("]");
                }
            }
            if s.field == Field::EnumValue {
                w.push(&format!(" when context.e_{k} == "))
                    .slot(Some(slot), &quoted);
            }
            w.push("\n}\n");
            let expect = format!("expect allow c-{f} -> s-{f} on tcp/{port}");
            match s.field {
                Field::SegmentName => {
                    w.push("segment ").slot(Some(slot), &quoted);
                    w.push(&format!(" = [c-{f}]\n"));
                }
                Field::ServiceName => {
                    w.push("service ").slot(Some(slot), &quoted);
                    w.push(&format!(" = tcp/{port}\n"));
                }
                Field::EnumValue => {
                    w.push(&format!("context {{ e_{k}: enum["))
                        .slot(Some(slot), &quoted)
                        .push(", \"zz-other\"] }\n");
                }
                Field::TestName => {
                    w.push("test ").slot(Some(slot), &quoted);
                    w.push(&format!(" {{\n  {expect}\n}}\n"));
                }
                Field::ContextValue => {
                    w.push(&format!(
                        "test \"cv-test-{k}\" {{\n  {expect} with context.region = "
                    ))
                    .slot(Some(slot), &quoted)
                    .push("\n}\n");
                }
                _ => {}
            }
            w.region(0, vec![slot]);
            w.done();
        }
    }

    /// The port of a policy slot's rule (unique per slot).
    pub fn port(&self, slot: usize) -> u16 {
        let s = &self.slots[slot];
        let f = POLICY_FIELDS
            .iter()
            .position(|&x| x == s.field)
            .unwrap_or(0);
        (10_000 + 200 * f + s.value) as u16
    }

    /// Decisions the OPA bundle must give under `hostile`.
    pub fn probes(&self, hostile: &[bool]) -> Vec<Probe> {
        let mut out = Vec::new();
        let p = |who: &str| json!({ "principal": who });
        match self.kind {
            Kind::Inventory => {
                let server = format!("{SPIFFE}server");
                let client = format!("{SPIFFE}client");
                for k in 0..self.values.len() {
                    if let Some(s) = self.find(Field::Name, k) {
                        let name = self.text(s, hostile);
                        let selected = [
                            Field::Owner,
                            Field::LabelKey,
                            Field::LabelValue,
                            Field::Attribute,
                        ]
                        .iter()
                        .zip(1001..)
                        .filter(|(f, _)| self.find(**f, k).is_some())
                        .map(|(_, port)| (port, true));
                        for (port, allow) in [(443, true), (444, false)].into_iter().chain(selected)
                        {
                            out.push(Probe {
                                what: format!("{} -> server on tcp/{port}", self.label(s)),
                                input: input(p(&name), p(&server), port, None),
                                allow,
                            });
                        }
                        out.push(Probe {
                            what: format!("client -> {} on tcp/8443", self.label(s)),
                            input: input(p(&client), p(&name), 8443, None),
                            allow: true,
                        });
                    }
                    if let Some(s) = self.find(Field::Spiffe, k) {
                        out.push(Probe {
                            what: format!("client -> {} on tcp/2000", self.label(s)),
                            input: input(p(&client), p(&self.text(s, hostile)), 2000, None),
                            allow: true,
                        });
                    }
                }
            }
            Kind::Policy => {
                for (slot, s) in self.slots.iter().enumerate() {
                    let f = POLICY_FIELDS
                        .iter()
                        .position(|&x| x == s.field)
                        .unwrap_or(0);
                    let v = self.text(slot, hostile);
                    let extra = match s.field {
                        Field::ContextValue => Some(json!({ "context": { "region": v } })),
                        Field::EnumValue => {
                            Some(json!({ "context": { format!("e_{}", s.value): v } }))
                        }
                        Field::RequestPath => Some(json!({ "request": { "path": v } })),
                        Field::RequestMethod => Some(json!({ "request": { "method": v } })),
                        _ => None,
                    };
                    let (src, dst) = (p(&format!("{SPIFFE}c-{f}")), p(&format!("{SPIFFE}s-{f}")));
                    let port = self.port(slot);
                    if extra.is_some() {
                        out.push(Probe {
                            what: format!("{} without its condition", self.label(slot)),
                            input: input(src.clone(), dst.clone(), port, None),
                            allow: false,
                        });
                    }
                    out.push(Probe {
                        what: self.label(slot),
                        input: input(src, dst, port, extra),
                        allow: true,
                    });
                }
            }
            Kind::Manifest => out.push(Probe {
                what: "client -> server on tcp/443".into(),
                input: input(
                    p(&format!("{SPIFFE}client")),
                    p(&format!("{SPIFFE}server")),
                    443,
                    None,
                ),
                allow: true,
            }),
        }
        out
    }
}

/// An input of `data.seg.authz` (docs/backends/opa.md, "Input").
fn input(src: Json, dst: Json, port: u16, extra: Option<Json>) -> Json {
    let mut i = json!({
        "source": src, "destination": dst, "protocol": "tcp", "port": port, "now": DECIDE_AT,
    });
    if let Some(Json::Object(m)) = extra {
        for (k, v) in m {
            i[k] = v;
        }
    }
    i
}

const INVENTORY_HEAD: &str = "version: 1\nattributes:\n  team: string\nidentities:\n";

/// A benign workload with an address in each family and every binding.
fn host(f: &mut text::File<'_>, name: &str, net: usize, n: usize) {
    f.push(&format!(
        "  - name: {name}\n    kind: workload\n    owner: team\n    attributes: {{ team: core }}\n    addresses: [\"10.0.{net}.{n}/32\", \"fd00:0:{net:x}::{n}/128\"]\n    kubernetes: {{ namespace: core, labels: {{ app: {name} }}, service_account: {name} }}\n    aws: {{}}\n    gcp: {{ service_account: {name}@{GCP_DOMAIN} }}\n    spiffe: {SPIFFE}{name}\n"
    ));
}

/// `before` and the slot's value as a YAML double-quoted scalar.
fn yaml_field(f: &mut text::File<'_>, (slot, v): (Option<usize>, String), before: &str) {
    f.push(before).slot(slot, &text::yaml(&v));
}

/// `///` lines holding `v` (split at line feeds), before an item or a rule.
fn doc(w: &mut text::File<'_>, slot: usize, indent: &str, v: &str) {
    for line in v.split('\n') {
        w.push(indent)
            .push("/// ")
            .slot(Some(slot), line)
            .push("\n");
    }
}

/// Whether `v` can be the stem of a `.seg` file the sources glob finds.
fn file_name_ok(v: &str) -> bool {
    !v.is_empty() && !v.contains(['/', '\0']) && !v.starts_with('.') && v.len() <= 200
}
