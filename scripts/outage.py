#!/usr/bin/env python3
"""The outage scenario of scripts/e2e-lambda.sh.

`events ESTATE OUT`: one CloudWatch Logs event and one two-record Kinesis event of flow logs timed
now, to the ALB that moto's estate holds; prints their UTC day and the three sources.

`destinations ENDPOINT BUCKET LOGS_EVENT KINESIS_EVENT ERROR`: plays Lambda's part once its
retries have run out — neither cargo-lambda nor moto implements destinations — and writes the
two failure records to the bucket in the shapes the Lambda developer guide documents: an
asynchronous invocation's record (the event as `requestPayload`) and a Kinesis event source
mapping's record with the whole batch (`payload`).
"""
import base64
import datetime
import gzip
import json
import sys
import time
import uuid


def logs_data(account, eni, private, sources, start):
    lines = [
        f"5 {account} {eni} {src} {private} 50000 443 6 3 180 {start} {start + 60} ACCEPT OK vpc-1 ingress"
        for src in sources
    ]
    message = {
        "messageType": "DATA_MESSAGE",
        "owner": account,
        "logGroup": "/connection-tracker/flow-logs",
        "logStream": "eni-outage",
        "subscriptionFilters": ["connection-tracker"],
        "logEvents": [
            {"id": str(i), "timestamp": start * 1000, "message": line} for i, line in enumerate(lines)
        ],
    }
    return base64.b64encode(gzip.compress(json.dumps(message).encode(), mtime=0)).decode()


def events(estate_path, out):
    alb = json.load(open(estate_path))[0]["interfaces"]["alb"]
    account = json.load(open(estate_path))[0]["account"]
    start = int(time.time()) - 60
    args = (account, alb["id"], alb["private"])
    logs = {"awslogs": {"data": logs_data(*args, ["9.9.9.1"], start)}}
    stream = "arn:aws:kinesis:eu-west-1:555555555555:stream/connection-tracker-flow-logs"
    records = []
    for i, src in enumerate(["9.9.9.2", "9.9.9.3"]):
        seq = f"4959033827149025660855969253836157109592157598913658{8100 + i}"
        records.append({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "outage", "sequenceNumber": seq,
                        "data": logs_data(*args, [src], start), "approximateArrivalTimestamp": start + 1.5},
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": f"shardId-000000000000:{seq}", "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::555555555555:role/connection-tracker-ingest",
            "awsRegion": "eu-west-1", "eventSourceARN": stream,
        })
    json.dump(logs, open(f"{out}/outage-logs.json", "w"))
    json.dump({"Records": records}, open(f"{out}/outage-kinesis.json", "w"))
    day = datetime.datetime.fromtimestamp(start, datetime.timezone.utc).strftime("%Y-%m-%d")
    print(day, alb["dns"], "9.9.9.1 9.9.9.2 9.9.9.3")


def destinations(endpoint, bucket, logs_path, kinesis_path, error):
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    function = "arn:aws:lambda:eu-west-1:555555555555:function:connection-tracker-ingest"
    logs = json.load(open(logs_path))
    async_record = {
        "version": "1.0",
        "timestamp": stamp,
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": f"{function}:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": logs,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "IngestError", "errorMessage": error},
    }
    kinesis = json.load(open(kinesis_path))
    first, last = kinesis["Records"][0], kinesis["Records"][-1]
    stream_record = {
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": function,
                           "condition": "RecordAgeExceeded", "approximateInvokeCount": 412},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": stamp,
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000000",
            "startSequenceNumber": first["kinesis"]["sequenceNumber"],
            "endSequenceNumber": last["kinesis"]["sequenceNumber"],
            "approximateArrivalOfFirstRecord": stamp,
            "approximateArrivalOfLastRecord": stamp,
            "batchSize": len(kinesis["Records"]),
            "streamArn": first["eventSourceARN"],
        },
        "payload": json.dumps(kinesis),
    }
    day = now.strftime("%Y/%m/%d")
    s3.put_object(Bucket=bucket, Key=f"aws/lambda/async/connection-tracker-ingest/{day}/{uuid.uuid4()}",
                  Body=json.dumps(async_record).encode())
    s3.put_object(Bucket=bucket, Key=f"aws/lambda/{uuid.uuid4()}/shardId-000000000000/{day}/{uuid.uuid4()}",
                  Body=json.dumps(stream_record).encode())


if __name__ == "__main__":
    if sys.argv[1] == "events":
        events(*sys.argv[2:4])
    elif sys.argv[1] == "destinations":
        destinations(*sys.argv[2:7])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
