#!/usr/bin/env python3
"""Apply seg's AWS output to an EC2 API endpoint (a local moto server) group
by group and rule by rule, then read every rule back.

    aws_apply.py ENDPOINT (terraform|cloudformation):FILE...

Groups are created as the format would create them: Terraform's
aws_security_group drops the default allow-all egress rule; a CloudFormation
group keeps only its inline egress rules (seg's "match nothing" placeholder).
Existing groups (`sg-...` ids in the file) are created empty under a name of
their own, as seg expects an existing group to hold only seg's rules. Each
rule resource is one Authorize call. Each file goes into a VPC of its own.
Output (stdout, JSON), one entry per file:

    [{"calls": int,
      "groups": {TOKEN: [{"egress": bool, "protocol": str, "from": int|null,
                          "to": int|null, "cidr": str|null, "group": TOKEN|null}]}}]

where TOKEN is the file's own name for a group: `${aws_security_group.X.id}`
or a logical id, or the existing `sg-...` id. Any API error exits 1.
"""

import json
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError


def ec2_client(endpoint):
    return boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def tf_string(s):
    """A Terraform JSON string as Terraform reads it (template escapes undone)."""
    return s.replace("$${", "${").replace("%%{", "%{")


def permission(protocol, from_port, to_port, peer, description):
    p = {"IpProtocol": str(protocol)}
    if str(protocol) not in ("-1", "tcp", "udp", "icmp") and from_port is None and to_port is None:
        # Quirk: moto 5.2.5 and 5.2.6 fail (HTTP 500) on any protocol but -1 without
        # FromPort/ToPort. AWS reads no range on icmpv6 as every type and code
        # and ignores ports on numbered protocols: both are -1/-1.
        from_port, to_port = -1, -1
    if from_port is not None:
        p["FromPort"] = int(from_port)
    if to_port is not None:
        p["ToPort"] = int(to_port)
    kind, value = peer
    if kind == "v4":
        p["IpRanges"] = [{"CidrIp": value, "Description": description}]
    elif kind == "v6":
        p["Ipv6Ranges"] = [{"CidrIpv6": value, "Description": description}]
    else:
        p["UserIdGroupPairs"] = [{"GroupId": value, "Description": description}]
    return p


class Applier:
    def __init__(self, ec2):
        self.ec2 = ec2
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.ids = {}  # file token -> real group id
        self.calls = 0
        self.last = None

    def group(self, token, name, description):
        gid = self.ec2.create_security_group(GroupName=name, Description=description, VpcId=self.vpc)["GroupId"]
        self.calls += 1
        # Every group starts without AWS's default allow-all egress rule.
        self.ec2.revoke_security_group_egress(
            GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
        self.ids[token] = gid
        return gid

    def existing(self, token):
        if token not in self.ids:
            self.group(token, "existing " + token, "stands for an existing group")

    def rule(self, token, egress, protocol, from_port, to_port, peer, description):
        kind, value = peer
        if kind == "group":
            value = self.ids[value]
        p = permission(protocol, from_port, to_port, (kind, value), description)
        self.last = {"group": token, "egress": egress, "permission": p}
        call = self.ec2.authorize_security_group_egress if egress else self.ec2.authorize_security_group_ingress
        call(GroupId=self.ids[token], IpPermissions=[p])
        self.calls += 1

    def read_back(self):
        return read_rules(self.ec2, self.ids)


def read_rules(ec2, ids):
    """Every rule of the groups `ids` (file token -> group id), as the EC2 API lists them."""
    by_id = {gid: token for token, gid in ids.items()}
    out = {}
    for token, gid in ids.items():
        rules = []
        paginator = ec2.get_paginator("describe_security_group_rules")
        for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": [gid]}]):
            for r in page["SecurityGroupRules"]:
                ref = r.get("ReferencedGroupInfo", {}).get("GroupId")
                proto, lo, hi = r["IpProtocol"], r.get("FromPort"), r.get("ToPort")
                if proto not in ("tcp", "udp", "icmp") and lo == -1 and hi == -1:
                    # The EC2 API reports -1 for "no range" (see permission()).
                    lo = hi = None
                rules.append(
                    {
                        "egress": bool(r["IsEgress"]),
                        "protocol": proto,
                        "from": lo,
                        "to": hi,
                        "cidr": r.get("CidrIpv4") or r.get("CidrIpv6"),
                        "group": by_id.get(ref, ref) if ref else None,
                    }
                )
        out[token] = rules
    return out


def peer_tf(r):
    if "cidr_ipv4" in r:
        return ("v4", r["cidr_ipv4"])
    if "cidr_ipv6" in r:
        return ("v6", r["cidr_ipv6"])
    return ("group", r["referenced_security_group_id"])


def apply_terraform(a, main):
    res = main.get("resource", {})
    for label, g in res.get("aws_security_group", {}).items():
        a.group("${aws_security_group.%s.id}" % label, tf_string(g["name"]), tf_string(g["description"]))
    rules = [(r, False) for r in res.get("aws_vpc_security_group_ingress_rule", {}).values()]
    rules += [(r, True) for r in res.get("aws_vpc_security_group_egress_rule", {}).values()]
    for r, _ in rules:
        for token in (r["security_group_id"], r.get("referenced_security_group_id")):
            if token and token.startswith("sg-"):
                a.existing(token)
    for r, egress in rules:
        a.rule(r["security_group_id"], egress, r["ip_protocol"], r.get("from_port"), r.get("to_port"), peer_tf(r), tf_string(r["description"]))


def cfn_token(v):
    if isinstance(v, str):
        return v
    if "Fn::GetAtt" in v:
        return v["Fn::GetAtt"][0]
    return v["Ref"]


def peer_cfn(p, egress):
    if "CidrIp" in p:
        return ("v4", p["CidrIp"])
    if "CidrIpv6" in p:
        return ("v6", p["CidrIpv6"])
    key = "DestinationSecurityGroupId" if egress else "SourceSecurityGroupId"
    return ("group", cfn_token(p[key]))


def apply_cloudformation(a, template):
    resources = template["Resources"]
    groups = {k: r for k, r in resources.items() if r["Type"] == "AWS::EC2::SecurityGroup"}
    for logical, g in groups.items():
        p = g["Properties"]
        a.group(logical, p["GroupName"], p["GroupDescription"])
        inline = p.get("SecurityGroupEgress") or [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "default"}]
        for e in inline:
            a.rule(logical, True, e["IpProtocol"], e.get("FromPort"), e.get("ToPort"), peer_cfn(e, True), e.get("Description", ""))
    rules = []
    for r in resources.values():
        if r["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            rules.append((r["Properties"], r["Type"].endswith("Egress")))
    for p, egress in rules:
        for token in (cfn_token(p["GroupId"]), peer_cfn(p, egress)[1]):
            if isinstance(token, str) and token.startswith("sg-"):
                a.existing(token)
    for p, egress in rules:
        a.rule(cfn_token(p["GroupId"]), egress, p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), peer_cfn(p, egress), p["Description"])


def main():
    ec2 = ec2_client(sys.argv[1])
    results = []
    for arg in sys.argv[2:]:
        fmt, path = arg.split(":", 1)
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        a = Applier(ec2)
        try:
            if fmt == "terraform":
                apply_terraform(a, doc)
            else:
                apply_cloudformation(a, doc)
            groups = a.read_back()
        except (ClientError, BotoCoreError, ResponseParserError) as e:
            print(json.dumps({"error": str(e)[:300], "file": path, "calls": a.calls, "while": a.last}))
            sys.exit(1)
        results.append({"groups": groups, "calls": a.calls})
    json.dump(results, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
