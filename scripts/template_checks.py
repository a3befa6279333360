"""Operational properties of template.yaml, checked on the template as CloudFormation gets it
(the SAM transform applied, offline: samtranslator with the code as an S3 object, as `sam
package` leaves it). Run by scripts/test.sh after cfn-lint; exits 1 naming what is missing.

- every function logs to a log group of the stack that has a retention (LogRetentionDays);
- every log group has a retention; the HTTP API stage writes an access log to one;
- a new cache takes daily snapshots and a final one, and has CacheUsageLimits (storage, ECPU/s);
- the refresh runs as its own role (fixed name and path), which deploy/member-account.yaml trusts by exact ARN;
- that reader role allows exactly the describe calls the refresh's AWS adapter makes;
- a new cache admits only its user group: a writer (ingest, refresh) and a read-only reader
  (the API), passwords generated into Secrets Manager and read at start, never a clear-text
  variable;
- the evidence archive is written once (PutObject denied without If-None-Match) and only the
  break-glass role may delete or change retention;
- flow-log objects come only from the named bucket and owner, written only by log delivery;
- the failure bucket (what ctrack replay trusts) is written only by the ingest role, and only
  under dead-letter/ and aws/lambda/;
- cross-account delivery trusts CloudWatch Logs only on behalf of the members
  (aws:SourceOrgID or aws:SourceAccount), and a Rule refuses a destination without members;
- the alarms exist, each telling the alarm topic; alarms on the functions' own metrics
  (namespace ConnectionTracker) name metrics the code emits.
"""

import os
import pathlib
import re
import sys

from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform

ROOT = pathlib.Path(__file__).resolve().parent.parent


class NoManagedPolicies:
    def load(self):
        return {}


def transformed():
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/key"
    return transform(template, {}, NoManagedPolicies())


def ref(value):
    return value.get("Ref") if isinstance(value, dict) else None


def main():
    resources = transformed()["Resources"]
    problems = []
    by_type = {}
    for name, resource in resources.items():
        by_type.setdefault(resource["Type"], {})[name] = resource.get("Properties", {})
    log_groups = by_type.get("AWS::Logs::LogGroup", {})
    for name, props in log_groups.items():
        if ref(props.get("RetentionInDays")) != "LogRetentionDays":
            problems.append(f"log group {name} keeps logs without LogRetentionDays")
    # Lambda writes to /aws/lambda/<function name>; the stack must make that group itself.
    named = {
        props.get("LogGroupName", {}).get("Fn::Sub"): name for name, props in log_groups.items()
    }
    for name in by_type.get("AWS::Lambda::Function", {}):
        if f"/aws/lambda/${{{name}}}" not in named:
            problems.append(f"function {name} logs to a log group without a retention")
    for name, props in by_type.get("AWS::ApiGatewayV2::Stage", {}).items():
        destination = props.get("AccessLogSettings", {}).get("DestinationArn", {})
        if destination.get("Fn::GetAtt", [None])[0] not in log_groups:
            problems.append(f"API stage {name} has no access log")

    for name, props in by_type.get("AWS::ElastiCache::ServerlessCache", {}).items():
        if not props.get("SnapshotRetentionLimit") or not props.get("FinalSnapshotName"):
            problems.append(f"cache {name} has no daily snapshots or no final snapshot")
        limits = props.get("CacheUsageLimits", {})
        if "Maximum" not in limits.get("DataStorage", {}) or "Maximum" not in limits.get("ECPUPerSecond", {}):
            problems.append(f"cache {name} has no CacheUsageLimits (storage and ECPU/s): an unbounded bill")
        if ref(props.get("UserGroupId")) not in by_type.get("AWS::ElastiCache::UserGroup", {}):
            problems.append(f"cache {name} admits anyone who reaches it (no user group)")
    users = {
        props.get("UserName"): props for props in by_type.get("AWS::ElastiCache::User", {}).values()
    }
    reader = users.get("ct-reader", {}).get("AccessString", "")
    if "-@all" not in reader or re.search(r"\+@(all|write|scripting|admin)", reader):
        problems.append(f"the API's cache user ct-reader may write: {reader!r}")
    if not users.get("default", {}).get("AccessString", "").startswith("off"):
        problems.append("the cache's default user is not disabled")
    for user, props in users.items():
        passwords = props.get("AuthenticationMode", {}).get("Passwords", [])
        if props.get("NoPasswordRequired") or not all("resolve:secretsmanager" in str(p) for p in passwords):
            problems.append(f"cache user {user}: password not generated into Secrets Manager")
    functions = by_type.get("AWS::Lambda::Function", {})
    for name, props in functions.items():
        variables = props.get("Environment", {}).get("Variables", {})
        url = str(variables.get("REDIS_URL", ""))
        wanted_user = "ct-reader@" if name == "ApiFunction" else "ct-writer@"
        if wanted_user not in url or "PASSWORD" in url.upper():
            problems.append(f"{name} does not connect to a new cache as {wanted_user[:-1]}")
        if name == "IngestFunction" and "CacheMaxDataStorageGB" not in str(variables.get("CACHE_LIMIT_BYTES")):
            problems.append("ingest does not know the new cache's limit (CACHE_LIMIT_BYTES)")
        if "secretsmanager" not in str(variables.get("REDIS_PASSWORD_PARAMETER", "")):
            problems.append(f"{name} reads no password for the new cache")

    alarms = by_type.get("AWS::CloudWatch::Alarm", {})
    watched = set()
    for name, props in alarms.items():
        if {"Ref": "AlarmTopic"} not in props.get("AlarmActions", []):
            problems.append(f"alarm {name} tells nobody (no AlarmTopic action)")
        stats = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        for stat in stats:
            if "MetricName" in stat:
                watched.add((stat["Namespace"], stat["MetricName"]))
    wanted = [
        ("ConnectionTracker", "RegionsFailed"),
        ("ConnectionTracker", "RegionsRefreshed"),
        ("ConnectionTracker", "Skipped.unknown_interface"),
        ("ConnectionTracker", "Rejected"),
        ("ConnectionTracker", "DeadLettered"),
        ("ConnectionTracker", "FailedPayloads.cache_full"),
        ("ConnectionTracker", "RedriveLeftTooOld"),
        ("ConnectionTracker", "RedriveUnreadable"),
        ("AWS/ElastiCache", "BytesUsedForCache"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/ApiGateway", "5xx"),
    ]
    for metric in wanted:
        if metric not in watched:
            problems.append(f"no alarm on {metric[0]} {metric[1]}")
    # Metrics of our own namespace must be ones the code prints (EMF): a typo alarms on nothing.
    code = "".join(
        p.read_text() for p in (ROOT / "shared/src").rglob("*.rs")
    )
    for namespace, metric in sorted(watched):
        if namespace != "ConnectionTracker":
            continue
        base, _, reason = metric.partition(".")
        if f'"{base}"' not in code or (reason and f'"{reason}"' not in code):
            problems.append(f"alarm on {metric}: the functions print no such metric")
    if not by_type.get("AWS::SNS::Topic"):
        problems.append("no alarm topic")

    # Trust by identity: the refresh has its own role with a fixed name and path, and the
    # member reader role trusts exactly that ARN (no name pattern).
    refresh = by_type.get("AWS::Lambda::Function", {}).get("RefreshFunction", {})
    if refresh.get("Role") != {"Fn::GetAtt": ["RefreshRole", "Arn"]}:
        problems.append("the refresh does not run as RefreshRole")
    role = by_type.get("AWS::IAM::Role", {}).get("RefreshRole", {})
    if role.get("Path") != "/connection-tracker/" or "RoleName" not in role:
        problems.append("RefreshRole has no fixed name and path")
    member = cfn_yaml.load(str(ROOT / "deploy/member-account.yaml"))["Resources"]["ReaderRole"]["Properties"]
    for statement in member["AssumeRolePolicyDocument"]["Statement"]:
        text = str(statement.get("Condition", {}))
        if "ArnLike" in text or "StringEquals" not in text or "aws:PrincipalArn" not in text:
            problems.append("deploy/member-account.yaml's reader role does not trust exactly the refresh role")
        if "role/connection-tracker/${CentralStackName}-refresh" not in text:
            problems.append("deploy/member-account.yaml's reader role trusts another ARN than RefreshRole's")

    problems += reader_role_calls()
    problems += archive_write_once(by_type)
    problems += cross_account_trust()
    problems += flow_log_objects(by_type)
    problems += failure_bucket_writers(by_type)

    for p in problems:
        print(f"template check: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(
        f"template checks: {len(by_type.get('AWS::Lambda::Function', {}))} functions log with a "
        f"retention, {len(log_groups)} log groups, {len(alarms)} alarms to the topic"
    )


def reader_role_calls():
    """The member reader role allows exactly the calls shared/src/refresh/aws/describe.rs makes
    (each named once in its `call_error("service:Action")`): one missing fails every member's
    refresh with AccessDenied, one more is a grant nobody uses."""
    code = (ROOT / "shared/src/refresh/aws/describe.rs").read_text()
    made = {c.replace("elasticloadbalancingv2:", "elasticloadbalancing:")
            for c in re.findall(r'call_error\("([a-z0-9]+:[A-Za-z]+)"\)', code)}
    member = cfn_yaml.load(str(ROOT / "deploy/member-account.yaml"))["Resources"]["ReaderRole"]["Properties"]
    allowed = {a for p in member["Policies"] for s in p["PolicyDocument"]["Statement"] for a in s["Action"]}
    problems = [f"deploy/member-account.yaml's reader role lacks {c}, which the refresh calls" for c in sorted(made - allowed)]
    problems += [f"deploy/member-account.yaml's reader role allows {c}, which the refresh never calls" for c in sorted(allowed - made)]
    return problems


def archive_write_once(by_type):
    """The evidence archive's bucket policy denies an object creation without If-None-Match
    (multipart steps exempt) and deletes and retention changes to all but the break-glass role."""
    problems = []
    policies = [
        p["PolicyDocument"]["Statement"]
        for p in by_type.get("AWS::S3::BucketPolicy", {}).values()
        if ref(p.get("Bucket")) == "ArchiveBucket"
    ]
    statements = [s for policy in policies for s in policy]
    deny = [s for s in statements if s.get("Effect") == "Deny"]
    once = [
        s for s in deny
        if s.get("Action") == "s3:PutObject"
        and s.get("Condition", {}).get("Null", {}).get("s3:if-none-match") == "true"
        and s.get("Condition", {}).get("Bool", {}).get("s3:ObjectCreationOperation") == "true"
    ]
    if not once:
        problems.append("the archive bucket lets a day be overwritten (no deny of PutObject without s3:if-none-match)")
    wanted = {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention"}
    guarded = [s for s in deny if wanted <= set(s.get("Action", []))]
    if not guarded or "ArchiveBreakGlassRoleArn" not in str(guarded[0].get("Condition")):
        problems.append("the archive bucket lets anyone but the break-glass role delete days or change retention")
    return problems


def flow_log_objects(by_type):
    """Flow-log objects come only from the named bucket of the named owner: the queue admits
    notifications with aws:SourceArn and aws:SourceAccount, ingest reads with s3:ResourceAccount,
    and deploy/flow-log-bucket.yaml lets only the log delivery service write under AWSLogs/."""
    problems = []
    queue = [
        s for p in by_type.get("AWS::SQS::QueuePolicy", {}).values()
        for s in p["PolicyDocument"]["Statement"]
    ]
    if not any("aws:SourceArn" in str(s.get("Condition")) and "aws:SourceAccount" in str(s.get("Condition")) for s in queue):
        problems.append("the flow-log queue admits any bucket's notifications (no aws:SourceArn and aws:SourceAccount)")
    reads = [
        s for p in by_type.get("AWS::IAM::Policy", {}).values()
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Action") == "s3:GetObject" and "AWSLogs" in str(s.get("Resource"))
    ]
    if not reads or not all("s3:ResourceAccount" in str(s.get("Condition")) for s in reads):
        problems.append("ingest reads flow-log objects from a bucket of any owner (no s3:ResourceAccount)")
    bucket = cfn_yaml.load(str(ROOT / "deploy/flow-log-bucket.yaml"))["Resources"]["FlowLogBucketPolicy"]
    statements = bucket["Properties"]["PolicyDocument"]["Statement"]
    if not any(s.get("Effect") == "Deny" and s.get("Action") == "s3:PutObject"
               and "delivery.logs.amazonaws.com" in str(s.get("Condition")) for s in statements):
        problems.append("deploy/flow-log-bucket.yaml lets others than the log delivery service write flow logs")
    return problems


def failure_bucket_writers(by_type):
    """ctrack replay counts what the failure bucket holds: its policy denies PutObject to every
    principal but the ingest function's role, and outside its two prefixes; the role's own grants
    name those prefixes (SAM's grant for the failure destination is the whole bucket)."""
    problems = []
    statements = [
        s for p in by_type.get("AWS::S3::BucketPolicy", {}).values()
        if ref(p.get("Bucket")) == "IngestFailureBucket"
        for s in p["PolicyDocument"]["Statement"]
    ]
    deny = [s for s in statements if s.get("Effect") == "Deny" and s.get("Action") == "s3:PutObject"]
    if not any("IngestFunctionRole" in str(s.get("Condition", {}).get("ArnNotEquals")) for s in deny):
        problems.append("principals other than the ingest role may write failure records ctrack replay would count")
    prefixes = [str(s.get("NotResource")) for s in deny if "NotResource" in s]
    if not prefixes or "dead-letter/*" not in prefixes[0] or "aws/lambda/*" not in prefixes[0]:
        problems.append("the failure bucket takes objects outside dead-letter/ and aws/lambda/")
    grants = [
        s for p in by_type.get("AWS::IAM::Policy", {}).values()
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Action") == "s3:PutObject" and "IngestFailureBucket" in str(s.get("Resource"))
    ]
    if any("/aws/lambda/*" not in str(s["Resource"]) and "/dead-letter/*" not in str(s["Resource"]) for s in grants):
        problems.append("an ingest policy grants PutObject on the whole failure bucket")
    return problems


def cross_account_trust():
    """CloudWatch Logs may put into the stream only on behalf of the members: every
    logs.amazonaws.com trust, in each branch of its condition, names the organisation
    (aws:SourceOrgID) or the accounts (aws:SourceAccount); an empty configuration is refused
    by a Rule."""
    problems = []
    for path, role in [("template.yaml", "LogsToKinesisRole"), ("deploy/destination.yaml", "LogsToStreamRole")]:
        template = cfn_yaml.load(str(ROOT / path))
        trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        for statement in trust:
            if statement.get("Principal") != {"Service": "logs.amazonaws.com"}:
                continue
            condition = statement.get("Condition", {})
            branches = condition["Fn::If"][1:] if "Fn::If" in condition else [condition]
            for branch in branches:
                equals = branch.get("StringEquals", {})
                if "aws:SourceOrgID" not in equals and "aws:SourceAccount" not in equals:
                    problems.append(f"{path} {role}: CloudWatch Logs of any account may assume it")
        rules = str(template.get("Rules", {}))
        if "MemberAccountIds" not in rules or "OrganizationId" not in rules:
            problems.append(f"{path}: no Rule refuses a destination without members")
    return problems


if __name__ == "__main__":
    main()
