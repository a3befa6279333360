#!/usr/bin/env python3
"""Writes CloudWatch Logs subscription events with flow-log lines for the estate that
moto_estate.py made (its JSON on stdin): traffic from the internet, from an office network and
from the other account's NAT gateway to each account's load balancers, instances and database,
timed two minutes ago, in the estate's custom flow-log format. One event file per account in DIR;
prints the UTC day the records count on, which every read of them should name.

Usage: estate_flow_logs.py DIR < estate.json
"""
import base64
import datetime
import gzip
import json
import pathlib
import sys
import time

out_dir = pathlib.Path(sys.argv[1])
estate = json.load(sys.stdin)
now = int(time.time()) - 120
for n, region_estate in enumerate(estate):
    account, ifaces = region_estate["account"], region_estate["interfaces"]
    other = estate[(n + 1) % len(estate)]["interfaces"]["nat"]["public"]
    flows = [  # (source, interface kind, port, repeats)
        ("8.8.8.8", "alb", 443, 3), ("1.1.1.1", "alb", 443, 1), (other, "alb", 443, 2),
        ("85.1.2.3", "ec2_eip", 22, 1), ("203.0.113.99", "ec2_eip", 22, 1),  # the second is private
        ("45.33.32.156", "ec2_auto", 8080, 2), (other, "rds", 5432, 4), ("34.240.0.9", "rds", 5432, 1),
        ("9.9.9.9", "nlb", 443, 1), ("9.9.9.9", "classic_elb", 80, 1), ("8.8.4.4", "nat", 443, 1),
    ]
    lines = []
    for i, (src, kind, port, repeats) in enumerate(flows):
        iface = ifaces[kind]
        for r in range(repeats):
            lines.append(f"5 {account} {iface['id']} {src} {iface['private']} {40000 + i * 10 + r} {port} 6 "
                         f"10 840 {now} {now + 60} ACCEPT OK vpc-0 ingress")
    lines.append(f"5 {account} {ifaces['alb']['id']} 8.8.8.8 {ifaces['alb']['private']} 40999 3389 6 "
                 f"1 40 {now} {now + 60} REJECT OK vpc-0 ingress")
    message = {"messageType": "DATA_MESSAGE", "owner": account, "logGroup": "/connection-tracker/flow-logs",
               "logStream": f"{ifaces['alb']['id']}-all", "subscriptionFilters": ["connection-tracker"],
               "logEvents": [{"id": f"{now * 1000 + i:056d}", "timestamp": now * 1000, "message": line}
                             for i, line in enumerate(lines)]}
    data = base64.b64encode(gzip.compress(json.dumps(message).encode(), mtime=0)).decode()
    (out_dir / f"flow-logs-{account}-{region_estate['region']}.json").write_text(
        json.dumps({"awslogs": {"data": data}}))
print(datetime.datetime.fromtimestamp(now, datetime.timezone.utc).date().isoformat())
