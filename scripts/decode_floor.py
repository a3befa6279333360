#!/usr/bin/env python3
"""The decode floor of an ingest workload: how fast CPython's C zlib reads the events of a
directory — event JSON, base64, gunzip; the files already in memory, one core; best of 3.
Prints one line: `decode floor: N records in S s = R records/s`.

Run: python3 scripts/decode_floor.py DIR   (the *.json CloudWatch Logs events of DIR)
"""
import base64
import gzip
import json
import pathlib
import sys
import time


def main():
    files = sorted(pathlib.Path(sys.argv[1]).glob("*.json"))
    events = [f.read_bytes() for f in files]
    best = None
    for _ in range(3):
        started = time.perf_counter()
        payloads = [gzip.decompress(base64.b64decode(json.loads(e)["awslogs"]["data"])) for e in events]
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    records = sum(len(json.loads(p)["logEvents"]) for p in payloads)
    print(f"decode floor: {records} records in {best:.3f} s = {records / best:.0f} records/s")


if __name__ == "__main__":
    main()
