//! AWS security groups as AWS documents them, read from seg's emitted files
//! (or from what the EC2 API returns), independent of seg's code.
//!
//! The model (Amazon VPC user guide, "Security group rules" and "Control
//! traffic to your AWS resources using security groups"):
//! - rules only allow; the rules of every group on an interface add up;
//! - a connection is allowed when an outbound rule of a source group allows it
//!   and an inbound rule of a destination group allows it; traffic is
//!   stateful, so replies need no rule;
//! - an endpoint outside every group (not managed on AWS) filters nothing;
//! - a peer is a CIDR (matches the endpoint's address) or a security group
//!   (matches the interfaces in that group);
//! - `IpProtocol` `-1` is every protocol and port; `tcp`/`udp` use the port
//!   range; `icmp`/`icmpv6` use `FromPort`/`ToPort` as ICMP type/code, `-1`
//!   meaning all; any other protocol number opens every port;
//! - CloudFormation: a group without inline egress rules gets an allow-all
//!   IPv4 outbound rule.
//!
//! Addresses come from the inventory: an end without a known address is
//! matched by its groups only, never by a CIDR peer.

use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// A group, by its normalised key `<identity>#<n>`.
    Group(String),
    Cidr(IpNet),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SgRule {
    pub protocol: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub peer: Peer,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SgState {
    pub ingress: BTreeSet<SgRule>,
    pub egress: BTreeSet<SgRule>,
}

/// Groups (by normalised key) and which groups each identity's instances carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsState {
    pub groups: BTreeMap<String, SgState>,
    pub carried: BTreeMap<String, Vec<String>>,
}

/// Undo Terraform's template escapes.
fn tf_unescape(s: &str) -> String {
    s.replace("$${", "${").replace("%%{", "%{")
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn cidr(s: &str) -> IpNet {
    let n: IpNet = s.parse().unwrap_or_else(|_| panic!("bad CIDR `{s}`"));
    assert_eq!(n.trunc(), n, "CIDR `{s}` is not canonical");
    n
}

/// Keys `<identity>#<n>` for the format's group tokens.
fn keys(
    carried: &[(String, Vec<String>)],
) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let mut tokens = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (identity, groups) in carried {
        let mut list = Vec::new();
        for (n, token) in groups.iter().enumerate() {
            let key = format!("{identity}#{n}");
            let old = tokens.insert(token.clone(), key.clone());
            assert!(
                old.is_none(),
                "group `{token}` is carried by two identities"
            );
            list.push(key);
        }
        out.insert(identity.clone(), list);
    }
    (tokens, out)
}

fn key(tokens: &BTreeMap<String, String>, token: &str) -> String {
    tokens
        .get(token)
        .cloned()
        .unwrap_or_else(|| panic!("group `{token}` is not listed for any identity"))
}

/// From `main.tf.json`.
pub fn from_terraform(main: &Value) -> AwsState {
    let carried: Vec<(String, Vec<String>)> = main["output"]["security_groups"]["value"]
        .as_array()
        .expect("output.security_groups.value")
        .iter()
        .map(|e| {
            let ids = e["security_group_ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|t| t.as_str().expect("id").to_string())
                .collect();
            (tf_unescape(e["identity"].as_str().expect("identity")), ids)
        })
        .collect();
    let (tokens, carried) = keys(&carried);
    let mut state = AwsState {
        groups: tokens
            .values()
            .map(|k| (k.clone(), SgState::default()))
            .collect(),
        carried,
    };
    if let Some(groups) = main["resource"]["aws_security_group"].as_object() {
        for label in groups.keys() {
            key(&tokens, &format!("${{aws_security_group.{label}.id}}"));
        }
    }
    for (kind, ingress) in [
        ("aws_vpc_security_group_ingress_rule", true),
        ("aws_vpc_security_group_egress_rule", false),
    ] {
        let Some(rules) = main["resource"][kind].as_object() else {
            continue;
        };
        for (label, r) in rules {
            let peers: Vec<Peer> = [
                r.get("cidr_ipv4")
                    .and_then(Value::as_str)
                    .map(|s| Peer::Cidr(cidr(s))),
                r.get("cidr_ipv6")
                    .and_then(Value::as_str)
                    .map(|s| Peer::Cidr(cidr(s))),
                r.get("referenced_security_group_id")
                    .and_then(Value::as_str)
                    .map(|s| Peer::Group(key(&tokens, s))),
                r.get("prefix_list_id")
                    .map(|_| panic!("{label}: prefix lists are not used")),
            ]
            .into_iter()
            .flatten()
            .collect();
            assert_eq!(peers.len(), 1, "{label}: exactly one peer per rule");
            let rule = SgRule {
                protocol: r["ip_protocol"].as_str().expect("ip_protocol").to_string(),
                from: r.get("from_port").and_then(int),
                to: r.get("to_port").and_then(int),
                peer: peers.into_iter().next().expect("a peer"),
            };
            let group = key(
                &tokens,
                r["security_group_id"].as_str().expect("security_group_id"),
            );
            let g = state.groups.entry(group).or_default();
            let fresh = if ingress {
                g.ingress.insert(rule)
            } else {
                g.egress.insert(rule)
            };
            assert!(fresh, "{label}: duplicate rule");
        }
    }
    state
}

fn cfn_group(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            if let Some(a) = o.get("Fn::GetAtt").and_then(Value::as_array) {
                assert_eq!(
                    a.get(1).and_then(Value::as_str),
                    Some("GroupId"),
                    "GetAtt of GroupId"
                );
                a[0].as_str().expect("logical id").to_string()
            } else {
                o.get("Ref")
                    .and_then(Value::as_str)
                    .expect("Ref or GetAtt")
                    .to_string()
            }
        }
        other => panic!("not a group reference: {other}"),
    }
}

fn cfn_rule(p: &Value, tokens: &BTreeMap<String, String>, ingress: bool) -> SgRule {
    let group_field = if ingress {
        "SourceSecurityGroupId"
    } else {
        "DestinationSecurityGroupId"
    };
    let peers: Vec<Peer> = [
        p.get("CidrIp")
            .and_then(Value::as_str)
            .map(|s| Peer::Cidr(cidr(s))),
        p.get("CidrIpv6")
            .and_then(Value::as_str)
            .map(|s| Peer::Cidr(cidr(s))),
        p.get(group_field)
            .map(|g| Peer::Group(key(tokens, &cfn_group(g)))),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(peers.len(), 1, "exactly one peer per rule: {p}");
    SgRule {
        protocol: p["IpProtocol"]
            .as_str()
            .map(str::to_string)
            .or_else(|| int(&p["IpProtocol"]).map(|n| n.to_string()))
            .expect("IpProtocol"),
        from: p.get("FromPort").and_then(int),
        to: p.get("ToPort").and_then(int),
        peer: peers.into_iter().next().expect("a peer"),
    }
}

/// From `template.json`.
pub fn from_cloudformation(t: &Value) -> AwsState {
    let carried: Vec<(String, Vec<String>)> = t["Metadata"]["seg"]["identities"]
        .as_array()
        .expect("Metadata.seg.identities")
        .iter()
        .map(|e| {
            (
                e["identity"].as_str().expect("identity").to_string(),
                e["groups"]
                    .as_array()
                    .expect("groups")
                    .iter()
                    .map(|g| g.as_str().expect("group").to_string())
                    .collect(),
            )
        })
        .collect();
    let (tokens, carried) = keys(&carried);
    let mut state = AwsState {
        groups: tokens
            .values()
            .map(|k| (k.clone(), SgState::default()))
            .collect(),
        carried,
    };
    let resources = t["Resources"].as_object().expect("Resources");
    for (logical, r) in resources {
        let p = &r["Properties"];
        match r["Type"].as_str().unwrap_or_default() {
            "AWS::EC2::SecurityGroup" => {
                let g = state.groups.entry(key(&tokens, logical)).or_default();
                match p.get("SecurityGroupEgress").and_then(Value::as_array) {
                    Some(inline) if !inline.is_empty() => {
                        for e in inline {
                            g.egress.insert(cfn_rule(e, &tokens, false));
                        }
                    }
                    _ => {
                        g.egress.insert(SgRule {
                            protocol: "-1".into(),
                            from: None,
                            to: None,
                            peer: Peer::Cidr(IpNet::V4(Ipv4Net::default())),
                        });
                    }
                }
                for i in p
                    .get("SecurityGroupIngress")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    g.ingress.insert(cfn_rule(i, &tokens, true));
                }
            }
            t @ ("AWS::EC2::SecurityGroupIngress" | "AWS::EC2::SecurityGroupEgress") => {
                let ingress = t.ends_with("Ingress");
                let rule = cfn_rule(p, &tokens, ingress);
                let g = state
                    .groups
                    .entry(key(&tokens, &cfn_group(&p["GroupId"])))
                    .or_default();
                let fresh = if ingress {
                    g.ingress.insert(rule)
                } else {
                    g.egress.insert(rule)
                };
                assert!(fresh, "{logical}: duplicate rule");
            }
            "AWS::CloudFormation::WaitConditionHandle" => {}
            other => panic!("{logical}: unexpected resource type `{other}`"),
        }
    }
    state
}

/// From the oracle script's read-back of one format: groups by the format's
/// tokens, rules as the EC2 API lists them.
pub fn from_readback(
    v: &Value,
    carried: &BTreeMap<String, Vec<String>>,
    tokens_of: &BTreeMap<String, Vec<String>>,
) -> AwsState {
    let mut tokens = BTreeMap::new();
    for (identity, list) in tokens_of {
        for (n, token) in list.iter().enumerate() {
            tokens.insert(token.clone(), format!("{identity}#{n}"));
        }
    }
    let mut state = AwsState {
        groups: BTreeMap::new(),
        carried: carried.clone(),
    };
    for (token, rules) in v["groups"].as_object().expect("groups") {
        let g = state.groups.entry(key(&tokens, token)).or_default();
        for r in rules.as_array().expect("rules") {
            let peer = match (r["cidr"].as_str(), r["group"].as_str()) {
                (Some(c), None) => Peer::Cidr(cidr(c)),
                (None, Some(t)) => Peer::Group(key(&tokens, t)),
                _ => panic!("read-back rule without one peer: {r}"),
            };
            let rule = SgRule {
                protocol: r["protocol"].as_str().expect("protocol").to_string(),
                from: int(&r["from"]),
                to: int(&r["to"]),
                peer,
            };
            if r["egress"].as_bool() == Some(true) {
                g.egress.insert(rule);
            } else {
                g.ingress.insert(rule);
            }
        }
    }
    state
}

/// The tokens each format uses for each identity's groups, in order.
pub fn terraform_tokens(main: &Value) -> BTreeMap<String, Vec<String>> {
    main["output"]["security_groups"]["value"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                tf_unescape(e["identity"].as_str().unwrap_or_default()),
                e["security_group_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect(),
            )
        })
        .collect()
}

pub fn cloudformation_tokens(t: &Value) -> BTreeMap<String, Vec<String>> {
    t["Metadata"]["seg"]["identities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["identity"].as_str().unwrap_or_default().to_string(),
                e["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect(),
            )
        })
        .collect()
}

/// One end of a packet: the groups of its interface and its address, if known.
#[derive(Clone, Debug)]
pub struct End {
    pub groups: Vec<String>,
    pub addr: Option<IpAddr>,
}

/// What the packet carries: IANA protocol number, destination port (or ICMP
/// type and code), and its address family.
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    pub protocol: u8,
    pub port: u16,
    pub icmp: (i64, i64),
    pub v6: bool,
}

fn proto_matches(r: &SgRule, p: &Packet) -> bool {
    let in_range =
        |x: i64| r.from.is_none_or(|f| f == -1 || f <= x) && r.to.is_none_or(|t| t == -1 || x <= t);
    match r.protocol.as_str() {
        "-1" | "all" => true,
        "tcp" | "6" => p.protocol == 6 && in_range(i64::from(p.port)),
        "udp" | "17" => p.protocol == 17 && in_range(i64::from(p.port)),
        "icmp" | "1" => {
            p.protocol == 1
                && !p.v6
                && r.from.is_none_or(|f| f == -1 || f == p.icmp.0)
                && r.to.is_none_or(|t| t == -1 || t == p.icmp.1)
        }
        "icmpv6" | "58" => {
            p.protocol == 58
                && p.v6
                && r.from.is_none_or(|f| f == -1 || f == p.icmp.0)
                && r.to.is_none_or(|t| t == -1 || t == p.icmp.1)
        }
        n => n.parse::<u8>().is_ok_and(|n| n == p.protocol),
    }
}

fn peer_matches(r: &SgRule, other: &End) -> bool {
    match &r.peer {
        Peer::Group(g) => other.groups.contains(g),
        Peer::Cidr(net) => other.addr.is_some_and(|a| net.contains(&a)),
    }
}

/// Whether the groups let the packet through; `None` when neither end is in
/// a group, or an end has neither a group nor an address (no such packet).
pub fn decide(state: &AwsState, src: &End, dst: &End, p: &Packet) -> Option<bool> {
    let nowhere = |e: &End| e.groups.is_empty() && e.addr.is_none();
    if (src.groups.is_empty() && dst.groups.is_empty()) || nowhere(src) || nowhere(dst) {
        return None;
    }
    let rules = |groups: &[String], ingress: bool| -> Vec<&SgRule> {
        groups
            .iter()
            .filter_map(|g| state.groups.get(g))
            .flat_map(|s| {
                if ingress {
                    s.ingress.iter()
                } else {
                    s.egress.iter()
                }
            })
            .collect()
    };
    let out_ok = src.groups.is_empty()
        || rules(&src.groups, false)
            .iter()
            .any(|r| proto_matches(r, p) && peer_matches(r, dst));
    let in_ok = dst.groups.is_empty()
        || rules(&dst.groups, true)
            .iter()
            .any(|r| proto_matches(r, p) && peer_matches(r, src));
    Some(out_ok && in_ok)
}
