#!/usr/bin/env python3
"""Apply versions of seg's CloudFormation template to one stack on a local
moto server, in turn, and read back every security group after each step.

    aws_stack.py TEMPLATE...

Starts moto's server in this process on a loopback port the system picks (so
concurrent runs never collide; stopped at the end), creates a VPC, creates
the stack `seg-versions` from the first template (parameter VpcId when the
template asks for it) and updates it with each next one, waiting for each
operation to end. A status other than
CREATE_COMPLETE / UPDATE_COMPLETE, or an API error, prints the stack's events
and exits 1. Output (stdout, JSON), one entry per template:

    [{"status": str,
      "groups": {TOKEN: [{"egress": bool, "protocol": str, "from": int|null,
                          "to": int|null, "cidr": str|null, "group": TOKEN|null}]}}]

covering every security group of the VPC but its default one: TOKEN is the
group's logical id in the stack, or `unmanaged:<group id>:<name>` for a group
the stack does not hold (one it should have deleted).

moto 5.2.6's CloudFormation (as 5.2.5's) falls short of AWS on exactly the
resources seg emits (moto/cloudformation/parsing.py,
moto/ec2/models/security_groups.py):
- `AWS::EC2::SecurityGroupEgress` has no model: the resource is skipped
  ("No Moto CloudFormation support"), its rule never created;
- `AWS::EC2::SecurityGroup` ignores `SecurityGroupEgress`: the group keeps
  the default allow-all outbound rule that AWS removes when it is given;
- `AWS::EC2::SecurityGroupIngress` ignores `CidrIpv6`, and has neither a
  delete nor an update: a rule removed from the template stays in the group,
  a changed one keeps its old form.
Its EC2 also deletes a group that another group's rule references, which
EC2 refuses (DependencyViolation), so an update that removes a group and the
rules naming it leaves those rules dangling. So the handlers of those three
are completed here from the AWS CloudFormation resource reference and the EC2
API reference: a rule resource is created by an authorize call and deleted by
a revoke call (or with its group); a changed one is revoked and authorized
anew (AWS replaces it, or updates a new description in place: the same end);
a group given `SecurityGroupEgress` holds exactly those outbound rules; a
group still referenced is not deleted (the update retries it after the rules
naming it are gone). Everything
else — parsing, parameters, Ref/GetAtt, dependency order, which logical ids
an update adds, changes or removes, statuses and events — is moto's own.
"""

import json
import sys
import time

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends
from moto.ec2.models.security_groups import SecurityGroup
from moto.ec2.responses.security_groups import parse_sg_attributes_from_dict
from moto.server import ThreadedMotoServer

from aws_apply import ec2_client, read_rules

STACK = "seg-versions"


def rule_args(props, egress):
    """A rule resource's properties as moto's EC2 backend takes them."""
    protocol, from_port, to_port, ranges, _, _ = parse_sg_attributes_from_dict(props)
    protocol = str(protocol)
    if protocol not in ("-1", "tcp", "udp", "icmp") and from_port is None and to_port is None:
        # The quirk aws_apply.permission() explains: -1/-1 is AWS's reading.
        from_port, to_port = -1, -1
    peer = props.get("DestinationSecurityGroupId" if egress else "SourceSecurityGroupId")
    return {
        "group_name_or_id": props["GroupId"],
        "ip_protocol": protocol,
        "from_port": from_port,
        "to_port": to_port,
        "ip_ranges": ranges,
        "source_groups": [{"GroupId": peer}] if peer else [],
    }


class Rule(CloudFormationModel):
    """One AWS::EC2::SecurityGroupIngress or ...Egress resource."""

    # moto's model metaclass files every model under the service its module names.
    __module__ = "moto.ec2.cfn_rules"
    egress = False

    def __init__(self, backend, args):
        self.backend = backend
        self.args = args

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        backend = ec2_backends[account_id][region_name]
        args = rule_args(cloudformation_json["Properties"], cls.egress)
        if cls.egress:
            backend.authorize_security_group_egress(**args)
        else:
            backend.authorize_security_group_ingress(**args)
        return cls(backend, args)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        raise NotImplementedError("deleted through the resource's delete()")

    def delete(self, account_id, region_name):
        if self.backend.get_security_group_from_id(self.args["group_name_or_id"]) is None:
            return  # deleted with its group, as AWS deletes a group's rules
        if self.egress:
            self.backend.revoke_security_group_egress(**self.args)
        else:
            self.backend.revoke_security_group_ingress(**self.args)

    @property
    def physical_resource_id(self):
        return "rule-" + json.dumps(self.args, sort_keys=True)


class Ingress(Rule):
    __module__ = Rule.__module__

    @staticmethod
    def cloudformation_type():
        return "AWS::EC2::SecurityGroupIngress"


class Egress(Rule):
    __module__ = Rule.__module__
    egress = True

    @staticmethod
    def cloudformation_type():
        return "AWS::EC2::SecurityGroupEgress"


def complete_moto():
    """Install the handlers of the module docs in moto's CloudFormation."""
    create_group = SecurityGroup.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        group = create_group(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        inline = cloudformation_json["Properties"].get("SecurityGroupEgress")
        if inline:
            backend = ec2_backends[account_id][region_name]
            backend.revoke_security_group_egress(group.id, "-1", None, None, [{"CidrIp": "0.0.0.0/0"}])
            for e in inline:
                backend.authorize_security_group_egress(**rule_args({**e, "GroupId": group.id}, True))
        return group

    def delete(group, account_id, region_name):
        # EC2 refuses to delete a group another group's rule references
        # (DependencyViolation); moto deletes it, leaving that rule dangling.
        # Refused, the update deletes the referencing rule first and retries.
        for vpc in group.ec2_backend.groups.values():
            for other in vpc.values():
                rules = other.ingress_rules + other.egress_rules
                if other is not group and any(r.source_group.get("GroupId") == group.id for r in rules):
                    raise RuntimeError(f"DependencyViolation: {group.id} is referenced by {other.id}")
        group.ec2_backend.delete_security_group(group_id=group.id)

    SecurityGroup.create_from_cloudformation_json = classmethod(create)
    SecurityGroup.delete = delete
    models = dict(parsing.get_model_map())
    models.update({cls.cloudformation_type(): cls for cls in (Ingress, Egress)})
    parsing.get_model_map = lambda: models


def wait(cfn, verb):
    deadline = time.monotonic() + 60
    while True:
        status = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            fail(cfn, f"{verb}: still {status} after 60 s")
        time.sleep(0.2)
    if status != f"{verb}_COMPLETE":
        fail(cfn, f"{verb}: {status}")
    return status


def fail(cfn, why):
    print(f"stack {STACK}: {why}", file=sys.stderr)
    try:
        for e in cfn.describe_stack_events(StackName=STACK)["StackEvents"]:
            print(
                "  {} {} {} {}".format(
                    e.get("LogicalResourceId"), e.get("ResourceType"), e.get("ResourceStatus"), e.get("ResourceStatusReason", "")
                ),
                file=sys.stderr,
            )
    except (ClientError, BotoCoreError, ResponseParserError) as err:
        print(f"  (no events: {err})", file=sys.stderr)
    sys.exit(1)


def read_vpc(ec2, cfn, vpc):
    """Every group of the VPC but its default one, by logical id when the stack holds it."""
    logical = {
        r["PhysicalResourceId"]: r["LogicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=STACK)["StackResources"]
        if r["ResourceType"] == "AWS::EC2::SecurityGroup"
    }
    ids = {}
    for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]:
        if g["GroupName"] == "default":
            continue
        gid = g["GroupId"]
        ids[logical.get(gid) or f"unmanaged:{gid}:{g['GroupName']}"] = gid
    return read_rules(ec2, ids)


def main():
    complete_moto()
    # Port 0: a port taken by another process would make start() wait forever.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        ec2 = ec2_client(endpoint)
        cfn = boto3.client(
            "cloudformation",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        results = []
        for i, path in enumerate(sys.argv[1:]):
            with open(path, encoding="utf-8") as f:
                body = f.read()
            params = []
            if "VpcId" in json.loads(body).get("Parameters", {}):
                params = [{"ParameterKey": "VpcId", "ParameterValue": vpc}]
            verb = "CREATE" if i == 0 else "UPDATE"
            try:
                if i == 0:
                    cfn.create_stack(StackName=STACK, TemplateBody=body, Parameters=params)
                else:
                    cfn.update_stack(StackName=STACK, TemplateBody=body, Parameters=params)
            except (ClientError, BotoCoreError, ResponseParserError) as err:
                fail(cfn, f"{verb} of {path}: {str(err)[:300]}")
            status = wait(cfn, verb)
            results.append({"status": status, "groups": read_vpc(ec2, cfn, vpc)})
        json.dump(results, sys.stdout, indent=1, sort_keys=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
