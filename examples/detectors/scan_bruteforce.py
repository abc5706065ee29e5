#!/usr/bin/env python3
"""Port scans and SSH/RDP brute force in the aws delivery of `vpclab generate`.

Reads DIR/AWSLogs/**/*.log.gz (AWS v2 default format, gzipped, a header line first) with
DuckDB and prints alerts as JSON lines, the format `vpclab score` reads (docs/generate.md,
"Alerts"):

    python examples/detectors/scan_bruteforce.py DIR --out alerts.jsonl
    vpclab score --truth DIR alerts.jsonl

Two rules, each over 10-minute buckets of the records' `start`:

- port scan: one source reaching at least --scan-pairs distinct (dstaddr, dstport) pairs,
  at least --scan-small of its records rejected or small (at most --small-packets packets).
  Many destinations on at most --horizontal-ports ports is `port_scan_horizontal`; many ports
  of one destination is `port_scan_vertical`; anything else `port_scan` (the family).
- brute force: one source opening at least --brute-connections connections (distinct source
  ports) to port 22 (`ssh_brute_force`) or 3389 (`rdp_brute_force`) of one destination.

A record from a port below 1024 to a port at or above 1024 is a service's reply, not a probe:
replies are left out, so a scanned or brute-forced host is never taken for the scanner.

Each alert's `time` is the largest `end` of the records that raised it: the moment the
evidence was complete. (The bucket start can precede the incident, and a record's `start` is
its first packet's second rounded down, which can precede an incident starting at a fraction.)
"""

import argparse
import json
import pathlib
import sys

import duckdb

FLOWS = """
CREATE TEMP TABLE flows AS
SELECT srcaddr AS src,
       dstaddr AS dst,
       TRY_CAST(srcport AS INTEGER) AS srcport,
       TRY_CAST(dstport AS INTEGER) AS dstport,
       TRY_CAST(packets AS BIGINT) AS packets,
       TRY_CAST("start" AS BIGINT) AS t_start,
       TRY_CAST("end" AS BIGINT) AS t_end,
       action
FROM read_csv($files, delim = ' ', header = true, compression = 'gzip', all_varchar = true)
WHERE "log-status" = 'OK'                       -- not NODATA or SKIPDATA
  AND TRY_CAST(dstport AS INTEGER) IS NOT NULL   -- ports only for TCP and UDP
  AND NOT (TRY_CAST(srcport AS INTEGER) < 1024 AND TRY_CAST(dstport AS INTEGER) >= 1024)
"""

SCANS = """
SELECT src,
       t_start - t_start % 600 AS bucket,
       max(t_end) AS time,
       count(DISTINCT (dst, dstport)) AS pairs,
       count(DISTINCT dst) AS dsts,
       count(DISTINCT dstport) AS ports,
       min(dst) AS one_dst,
       min(dstport) AS one_port,
       avg(CASE WHEN action = 'REJECT' OR packets <= $small_packets THEN 1 ELSE 0 END) AS small
FROM flows
GROUP BY src, bucket
HAVING pairs >= $pairs AND small >= $small
ORDER BY time, src
"""

BRUTE_FORCE = """
SELECT src, dst, dstport,
       t_start - t_start % 600 AS bucket,
       max(t_end) AS time,
       count(DISTINCT srcport) AS connections
FROM flows
WHERE dstport IN (22, 3389)
GROUP BY src, dst, dstport, bucket
HAVING connections >= $connections
ORDER BY time, src, dst, dstport
"""


def alerts(db, args):
    """The alerts of both rules, ordered by time then source."""
    out = []
    scans = db.execute(SCANS, {
        "pairs": args.scan_pairs,
        "small": args.scan_small,
        "small_packets": args.small_packets,
    }).fetchall()
    for src, _bucket, time, _pairs, dsts, ports, one_dst, one_port, _small in scans:
        alert = {"time": time, "kind": "port_scan", "src": src}
        if dsts == 1:
            alert.update(kind="port_scan_vertical", dst=one_dst)
        elif ports <= args.horizontal_ports:
            alert["kind"] = "port_scan_horizontal"
            if ports == 1:
                alert["port"] = one_port
        out.append(alert)
    brute = db.execute(BRUTE_FORCE, {"connections": args.brute_connections}).fetchall()
    for src, dst, port, _bucket, time, _connections in brute:
        kind = "ssh_brute_force" if port == 22 else "rdp_brute_force"
        out.append({"time": time, "kind": kind, "src": src, "dst": dst, "port": port})
    out.sort(key=lambda a: (a["time"], a["src"], a["kind"]))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", type=pathlib.Path, help="the output directory of vpclab generate")
    p.add_argument("--out", type=pathlib.Path, help="write the alerts here (default: stdout)")
    p.add_argument("--scan-pairs", type=int, default=20,
                   help="distinct (dstaddr, dstport) pairs of one source that make a scan (20)")
    p.add_argument("--scan-small", type=float, default=0.8,
                   help="share of a scan's records that are rejected or small (0.8)")
    p.add_argument("--small-packets", type=int, default=3,
                   help="a record of at most this many packets is small (3)")
    p.add_argument("--horizontal-ports", type=int, default=3,
                   help="a scan of many destinations on at most this many ports is horizontal (3)")
    p.add_argument("--brute-connections", type=int, default=20,
                   help="connections of one source to port 22 or 3389 of one destination (20)")
    args = p.parse_args()

    files = sorted(str(f) for f in (args.dir / "AWSLogs").glob("**/*.log.gz"))
    if not files:
        sys.exit(f"{args.dir}: no AWSLogs/**/*.log.gz (the aws delivery of vpclab generate)")
    db = duckdb.connect()
    db.execute(FLOWS, {"files": files})
    lines = "".join(json.dumps(a) + "\n" for a in alerts(db, args))
    if args.out:
        args.out.write_text(lines)
    else:
        sys.stdout.write(lines)


if __name__ == "__main__":
    main()
