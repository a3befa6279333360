#!/usr/bin/env python3
"""Writes the flow-log lines of saved CloudWatch Logs / Kinesis events as the .log.gz objects
VPC Flow Logs delivers to S3: one per owner account and region, under
OUT/AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/, with the header line AWS writes
(the default v2 fields). Python's gzip writes them: an encoder independent of the reader tested.

Run: python3 scripts/events_to_s3_objects.py OUT events/ingest-*.json
(FOLDER_DAY=2020/01/01 puts them in another day's folder. OBJECT_FORMAT=parquet writes
.log.parquet files with pyarrow instead: AWS's Parquet schema — columns named with underscores,
int32/int64/string, null for a missing value, gzip-compressed pages.)
"""
import base64
import gzip
import json
import os
import pathlib
import sys

HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
# The types AWS documents for the default fields of Parquet flow logs.
PARQUET_TYPES = {"version": "int32", "srcport": "int32", "dstport": "int32", "protocol": "int32",
                 "packets": "int64", "bytes": "int64", "start": "int64", "end": "int64"}


def write_parquet(path, records):
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [n.replace("-", "_") for n in HEADER.split()]
    columns = {n: [] for n in names}
    for record in records:
        for name, value in zip(names, record.split()):
            if value == "-":
                columns[name].append(None)
            elif PARQUET_TYPES.get(name, "string") == "string":
                columns[name].append(value)
            else:
                columns[name].append(int(value))
    schema = pa.schema([(n, getattr(pa, PARQUET_TYPES.get(n, "string"))()) for n in names])
    table = pa.table(columns, schema=schema)
    pq.write_table(table, str(path), compression="gzip", row_group_size=4)


def payloads(event):
    if "awslogs" in event:
        yield event["awslogs"]["data"]
    for record in event.get("Records", []):
        if "kinesis" in record:
            yield record["kinesis"]["data"]


def main():
    out = pathlib.Path(sys.argv[1])
    lines = {}
    for path in sys.argv[2:]:
        for data in payloads(json.loads(pathlib.Path(path).read_text())):
            message = json.loads(gzip.decompress(base64.b64decode(data)))
            if message.get("messageType") != "DATA_MESSAGE":
                continue
            for event in message["logEvents"]:
                lines.setdefault(message["owner"], []).append(event["message"])
    for owner, records in sorted(lines.items()):
        day = os.environ.get("FOLDER_DAY", "2026/11/27").split("/")
        folder = out.joinpath("AWSLogs", owner, "vpcflowlogs", "eu-west-1", *day)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{owner}_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20261127T1200Z_5d3e1f2a"
        if os.environ.get("OBJECT_FORMAT") == "parquet":
            path = folder / (name + ".log.parquet")
            write_parquet(path, records)
        else:
            path = folder / (name + ".log.gz")
            text = "\n".join([HEADER] + records) + "\n"
            path.write_bytes(gzip.compress(text.encode(), mtime=0))
        print(path)


if __name__ == "__main__":
    main()
