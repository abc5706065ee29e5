//! What each subcommand's `--help` ends with: examples to copy, from the repository's root,
//! and the exit codes a script can test (`tests/cli.rs` checks every subcommand has both).

pub const RUN: &str = "Examples:
  vpclab run scenarios/ping-acl-asymmetry.yaml                  the records, in the file's format
  vpclab run scenarios/ping-acl-asymmetry.yaml --provider huawei   the same world on another cloud
  vpclab run scenarios/ping-acl-asymmetry.yaml --explain        every packet's path and verdicts
  vpclab run scenarios/ping-acl-asymmetry.yaml --explain-record 2   only what record 2 counts
  vpclab run scenarios/ping-acl-asymmetry.yaml --format json    every field and the ground truth
  vpclab run scenarios/aws-nat-gateway.yaml --header --pcap /tmp/nat.pcap

Exit codes:
  0  done: the records are printed
  1  a capture file or the output could not be written
  2  bad input: the scenario or a flag (the message names file, line and field)";

pub const GRAPH: &str = "Examples:
  vpclab graph scenarios/ping-acl-asymmetry.yaml --out ping.svg   the picture, flows coloured
  vpclab graph scenarios/aws-tgw-peering.yaml --format dot | dot -Tpng -o tgw.png
  vpclab graph scenarios/huawei-hybrid-vpn.yaml --format mermaid --no-flows

Exit codes:
  0  the picture is written
  1  --out could not be written
  2  bad input: the scenario or a flag (the message names file, line and field)";

pub const LIVE: &str = "Examples (as root; needs iproute2):
  vpclab live scenarios/ping-acl-asymmetry.yaml --exec home -- ping -c 4 -i 0.2 198.51.100.10
  vpclab live scenarios/aws-nat-gateway.yaml --window 5 --shell instance
  vpclab live scenarios/ping-acl-asymmetry.yaml --provider huawei --explain --duration 30

Exit codes:
  0  the run ended (commands done, --duration, or Ctrl-C) and its records are printed
  1  the namespaces could not be made, or a write failed; nothing is left behind
  2  bad input: the scenario, a flag, a host name, or no root privileges";

pub const GENERATE: &str = "Examples:
  vpclab generate scenarios/workloads/teaching-hour.yaml --out /tmp/hour
  vpclab generate scenarios/workloads/teaching-hour.yaml --out /tmp/hour --force --provider huawei
  vpclab generate scenarios/workloads/enterprise-day.yaml --out /tmp/day --file-format parquet

Exit codes:
  0  the directory is written (files, truth/, summary.json)
  1  the run or a write failed; nothing is left half-written
  2  bad input: the scenario, a flag, or an --out that exists and is not empty";

pub const TEST: &str = "Examples:
  vpclab test                                                   every file in scenarios/
  vpclab test scenarios/ping-acl-asymmetry.yaml scenarios/aws-nat-gateway.yaml

Exit codes:
  0  every expectation held (PASS lines, then `N passed, 0 failed`)
  1  a scenario failed: an expectation did not hold, or it did not load (FAIL lines say why)
  2  a path does not exist";

pub const CHECK: &str = "Examples:
  vpclab check scenarios/ping-acl-asymmetry.yaml
  vpclab check scenarios/

Exit codes:
  0  every file is valid (`ok FILE` lines)
  2  a file is not (stderr names its line and field), or no file was named";

pub const SERVE: &str = "Examples:
  vpclab serve --data-dir \"$(mktemp -d)\"                        a fresh server on 127.0.0.1:50051
  vpclab serve --provider aws --data-dir /var/lib/vpclab --listen 127.0.0.1:7000
  vpclab serve --tokens tokens.yaml --listen 0.0.0.0:50051      one project per bearer token
  vpclab serve --data-dir \"$(mktemp -d)\" --http 127.0.0.1:8080   and the web console of its projects

Exit codes:
  0  stopped by SIGINT or SIGTERM
  1  could not open the data directory, listen or keep serving (the message says which)
  2  bad input: a flag, the tokens file, or an address beyond loopback without --tokens
     (--http: beyond loopback at all)";

pub const UI: &str = "Examples:
  vpclab ui scenarios/ping-acl-asymmetry.yaml                   then open http://127.0.0.1:8080/
  vpclab ui scenarios/aws-nat-gateway.yaml --http 127.0.0.1:0   any free port (the first line names it)

Exit codes:
  0  stopped by SIGINT or SIGTERM
  1  the console could not keep serving
  2  bad input: the scenario (the message names file, line and field), or an --http address
     beyond loopback or that cannot be listened on";

pub const APPLY: &str = "Examples:
  vpclab apply scenarios/ping-acl-asymmetry.yaml
  vpclab apply scenarios/aws-nat-gateway.yaml --server http://127.0.0.1:7000 --token SECRET

Exit codes:
  0  every resource and flow log is created
  1  the server could not be reached, or refused a request
  2  bad input: the scenario, --server or --token";

pub const EXPORT: &str = "Examples:
  vpclab export > state.yaml                                    applies back to an equal state
  vpclab export --server http://127.0.0.1:7000 --token SECRET -o state.yaml

Exit codes:
  0  the scenario is written
  1  the server could not be reached or refused, or the file could not be written
  2  bad input: --server or --token";

pub const SCORE: &str = "Examples:
  vpclab score --truth /tmp/hour /tmp/alerts.jsonl              a table per incident kind
  vpclab score --truth /tmp/hour /tmp/alerts.jsonl --format json --grace 300

Exit codes:
  0  the scores are printed
  1  the output could not be written
  2  bad input: the truth directory, an alert line (named by its line number) or --grace";

pub const BENCH: &str = "Examples (build with --release):
  vpclab bench                                                  the data plane: packets/s
  vpclab bench api                                              the gRPC API: ops/s, latency
  vpclab bench restart --commands 10000                         a server's start time
  vpclab bench generate --hours 1                               vpclab generate's speed
  sudo vpclab bench live --seconds 5                            live mode: iperf3's datagrams/s

Exit codes:
  0  done: the figures are printed, the last lines `name=value`
  1  the benchmark failed
  2  bad input: a flag";
