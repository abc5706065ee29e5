//! `vpclab`: run, test and check scenario files; serve the gRPC control plane, apply scenarios
//! to it and export its state; score a detector's alerts; benchmark the data plane and the API.

mod alloc_count;
mod bench;
mod bench_api;
mod bench_generate;
mod bench_multi;
mod bench_restart;
mod client;
mod console;
mod generate;
mod graph;
mod help;
mod live;
mod output;
mod score;
mod serve;
mod table;

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vpclab_controlplane::run::{StreamError, Streamed, Traces, note_line, stream};
use vpclab_controlplane::{Loaded, Options, load, parse, run};
use vpclab_sim::explain::{self, FlowFilter};
use vpclab_sim::flowlog::format::Format;
use vpclab_sim::policy::ProtoMatch;
use vpclab_sim::profile::Provider;
use vpclab_sim::simulation::Note;
use vpclab_sim::world::Outcome;

/// Counts live heap bytes, for the benchmark's bytes-per-flow figure.
#[global_allocator]
static ALLOCATOR: alloc_count::Counting = alloc_count::COUNTING;

#[derive(Parser)]
#[command(
    name = "vpclab",
    version,
    about = "A deterministic cloud-network simulator and its flow logs",
    after_help = "Examples:
  vpclab run scenarios/ping-acl-asymmetry.yaml                  the records, in the scenario's format
  vpclab run scenarios/ping-acl-asymmetry.yaml --explain        every packet's path and decisions
  vpclab run scenarios/ping-acl-asymmetry.yaml --format table   aligned, named columns
  vpclab graph scenarios/ping-acl-asymmetry.yaml > ping.svg     the topology, its flows drawn over it
  vpclab test scenarios/                                        every shipped scenario's expectations
  vpclab generate scenarios/workloads/teaching-hour.yaml --out hour/
  vpclab serve --data-dir /tmp/vpclab-data                      the gRPC control plane on 127.0.0.1:50051
  vpclab ui scenarios/ping-acl-asymmetry.yaml                   a web console on http://127.0.0.1:8080/

Exit codes:
  0  done (test: every expectation held)
  1  the run failed (test: an expectation did not hold; a file could not be written; a server error)
  2  bad input: a file, flag or request refused before anything ran (the message names file, line and field)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and print its flow-log records.
    #[command(after_help = help::RUN)]
    Run {
        file: PathBuf,
        /// Simulate this cloud instead of the file's: huawei, alibaba, tencent or aws.
        #[arg(long)]
        provider: Option<String>,
        /// Record format: huawei, huawei-er, alibaba, tencent, tencent-positional, aws,
        /// aws-tgw, json, or table (the cloud's positional format in aligned, named columns,
        /// printed when the run ends). Router records print in the router counterpart of an
        /// ENI format (huawei → huawei-er, aws → aws-tgw) and ENI records the reverse.
        #[arg(long)]
        format: Option<String>,
        /// With `--format aws`: a custom field list, e.g. "version vpc-id srcaddr tcp-flags"
        /// (VPC fields) or "version tgw-id srcaddr packets-lost-blackhole" (transit gateway).
        #[arg(long)]
        aws_fields: Option<String>,
        /// Print the field names first, space separated, as AWS's S3 files do (positional
        /// formats: huawei, huawei-er, tencent-positional, aws, aws-tgw).
        #[arg(long)]
        header: bool,
        /// Explain every packet as it is sent: its path and each stage's verdict; then
        /// `# records` and the records.
        #[arg(long)]
        explain: bool,
        /// Explain only the packets of one flow, either direction: "SRC DST [PROTO [SPORT
        /// [DPORT]]]", addresses as the sender sees them (an elastic IP stands for its private
        /// address), PROTO tcp, udp, icmp, all or a number, ports 0 for any. Implies --explain.
        #[arg(long, value_name = "FLOW", conflicts_with = "explain_record")]
        explain_flow: Option<String>,
        /// Explain only the packets the Nth printed record counts (1 is the first line of
        /// records). Runs the scenario twice: a record is known only once its window closes.
        /// Implies --explain.
        #[arg(long, value_name = "N")]
        explain_record: Option<usize>,
        /// Write every packet at every capture point to this classic pcap file (Ethernet,
        /// read by tcpdump, softflowd, argus, nfpcapd…): each frame's Ethernet source address
        /// names its capture point, and a legend of them goes to stderr.
        #[arg(long)]
        pcap: Option<PathBuf>,
        /// Write every packet at every capture point to this pcapng file: one interface per
        /// capture point, named after it (Wireshark, tshark).
        #[arg(long)]
        pcapng: Option<PathBuf>,
    },
    /// Draw a scenario's topology (regions, VPCs, zones, subnets, interfaces, ACLs, route
    /// tables, gateways, routers, CCNs, hosts) and the flows of its run over it: green where
    /// delivered, red where dropped, with the deciding rule.
    #[command(after_help = help::GRAPH)]
    Graph {
        file: PathBuf,
        /// svg (the default), dot (Graphviz) or mermaid.
        #[arg(long, default_value = "svg")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Simulate this cloud instead of the file's: huawei, alibaba, tencent or aws.
        #[arg(long)]
        provider: Option<String>,
        /// The topology only: do not run the scenario.
        #[arg(long)]
        no_flows: bool,
    },
    /// Run a scenario's workload and write what the cloud delivers (its log layout), the
    /// truth (incidents, labelled records) and a summary into a new directory.
    #[command(after_help = help::GENERATE)]
    Generate {
        file: PathBuf,
        /// The directory to create (refused if it exists and is not empty, unless --force).
        #[arg(long)]
        out: PathBuf,
        /// Replace a non-empty --out (only once the new one is complete).
        #[arg(long)]
        force: bool,
        /// Simulate this cloud instead of the file's: huawei, alibaba, tencent or aws.
        #[arg(long)]
        provider: Option<String>,
        /// aws: `text` (gzip, the default) or `parquet`.
        #[arg(long, default_value = "text")]
        file_format: String,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Send every packet through the pipeline, without packet trains (slower; the
        /// records are the same).
        #[arg(long)]
        per_packet: bool,
    },
    /// Run scenarios' expectations (files, or directories of .yaml files; default scenarios/).
    #[command(after_help = help::TEST)]
    Test { paths: Vec<PathBuf> },
    /// Validate scenario files (or directories of them) without running them.
    #[command(after_help = help::CHECK)]
    Check { files: Vec<PathBuf> },
    /// Serve the gRPC control plane (reflection and health included).
    #[command(after_help = help::SERVE)]
    Serve {
        /// Address to listen on. Beyond loopback only with --tokens.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
        /// Where acknowledged changes and delivered records are kept.
        #[arg(long, default_value = "vpclab-data")]
        data_dir: PathBuf,
        /// YAML file mapping bearer tokens to projects; without it every caller is the
        /// project `default`.
        #[arg(long)]
        tokens: Option<PathBuf>,
        /// The cloud new projects simulate (unless the tokens file says otherwise).
        #[arg(long, default_value = "huawei")]
        provider: String,
        /// Seed of new projects' generated ids.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Unix seconds at which new projects' virtual clocks start (default 2024-01-01).
        #[arg(long, default_value_t = 1_704_067_200)]
        start: u64,
        #[command(flatten)]
        quotas: serve::QuotaArgs,
        /// Also serve the web console of the caller's project (its records, filters and
        /// dashboard) here, e.g. 127.0.0.1:8080 (loopback only; port 0 picks one).
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
    },
    /// A local web console for a scenario: its records to filter and explain, the flow-log
    /// dashboard, and an editor to change the scenario and run it again.
    #[command(after_help = help::UI)]
    Ui {
        file: PathBuf,
        /// Address to listen on (loopback only); port 0 picks a free one. The first line
        /// printed names the URL.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// The packets a run may send: a file that sends more is refused (a run keeps every
        /// packet's outcome, a few hundred bytes each).
        #[arg(long, default_value_t = console::MAX_PACKETS)]
        max_packets: u64,
    },
    /// Real programs, real packets, the simulated cloud: every interface and host of the
    /// scenario gets a network namespace of its own, the frames they send go through the
    /// simulated security groups, ACLs, routes and NAT, and the records print as windows
    /// close. Linux, as root; nothing leaves the machine.
    #[command(after_help = help::LIVE)]
    Live {
        file: PathBuf,
        /// Run `-- COMMAND ARGS…` in this host's or interface's namespace; the run ends when
        /// every command has. Another `--exec NAME -- COMMAND…` may follow the command.
        #[arg(long, value_name = "NAME")]
        exec: Option<String>,
        /// Open a shell ($SHELL) in this host's or interface's namespace; the run ends with it.
        #[arg(long, value_name = "NAME", conflicts_with = "exec")]
        shell: Option<String>,
        /// Capture windows of this many seconds instead of the cloud's (demos).
        #[arg(long, value_name = "SECONDS")]
        window: Option<u64>,
        /// End the run after this many seconds (without --exec or --shell it runs until
        /// Ctrl-C).
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
        /// Simulate this cloud instead of the file's: huawei, alibaba, tencent or aws.
        #[arg(long)]
        provider: Option<String>,
        /// Record format, as for `vpclab run` (not table).
        #[arg(long)]
        format: Option<String>,
        /// Explain every packet (real or scripted) as it goes, and each record.
        #[arg(long)]
        explain: bool,
        /// Write every packet at every capture point to this pcapng file (headers as the
        /// simulator saw them; payloads are zeros).
        #[arg(long)]
        pcapng: Option<PathBuf>,
        /// The same as a classic pcap file (Ethernet; the source address names the capture
        /// point, the legend goes to stderr), as for `vpclab run`.
        #[arg(long)]
        pcap: Option<PathBuf>,
        /// The command of the first --exec, and any further `--exec NAME -- COMMAND…`.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Create a scenario's topology and flow logs on a running server.
    #[command(after_help = help::APPLY)]
    Apply {
        file: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// Bearer token (or the VPCLAB_TOKEN environment variable).
        #[arg(long, env = "VPCLAB_TOKEN")]
        token: Option<String>,
    },
    /// Write a server's state as a scenario file that applies back to an equal state.
    #[command(after_help = help::EXPORT)]
    Export {
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        #[arg(long, env = "VPCLAB_TOKEN")]
        token: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Score a detector's alerts against the truth of `vpclab generate` (docs/generate.md,
    /// "Alerts"): precision, recall, F1 and detection delay per incident kind.
    #[command(after_help = help::SCORE)]
    Score {
        /// The output directory of `vpclab generate`; its truth/incidents.jsonl is read.
        #[arg(long, value_name = "DIR")]
        truth: PathBuf,
        /// The alerts: one JSON object per line.
        #[arg(value_name = "ALERTS.jsonl")]
        alerts: PathBuf,
        /// Seconds after an incident's last packet during which an alert still matches it.
        #[arg(long, value_name = "SECONDS", default_value_t = score::DEFAULT_GRACE)]
        grace: f64,
        #[arg(long, value_enum, default_value_t = score::Format::Text)]
        format: score::Format,
    },
    /// Benchmark the data plane (SG + ACL + conntrack + route + aggregation + formatting), or
    /// with `api` the gRPC server, with `restart` the server's start, with `generate` a
    /// dataset's generation. Build with --release.
    #[command(after_help = help::BENCH)]
    Bench {
        #[command(subcommand)]
        target: Option<BenchTarget>,
        /// Concurrent connections.
        #[arg(long, default_value_t = bench::Options::default().flows)]
        flows: usize,
        /// Security-group rules plus ACL entries in total.
        #[arg(long, default_value_t = bench::Options::default().rules)]
        rules: usize,
        /// Packets in the measured run.
        #[arg(long, default_value_t = bench::Options::default().packets)]
        packets: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Skip the 10-rule and 10,000-rule comparison runs.
        #[arg(long)]
        no_compare: bool,
        /// Concurrent connections of the multi-VPC workload (through an enterprise router
        /// and a NAT gateway), which runs after the single-VPC one; 0 skips it.
        #[arg(long, default_value_t = bench::Options::default().multi_flows)]
        multi_flows: usize,
    },
}

#[derive(Subcommand)]
enum BenchTarget {
    /// Create+get throughput and latency of the gRPC API with concurrent clients, against a
    /// server started in-process on a temporary data directory.
    Api {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Create+get pairs per client.
        #[arg(long, default_value_t = 200)]
        ops: usize,
        /// Each client creates one VPC, then reads it 2 × OPS times: requests that touch no
        /// disk and wait for nothing, the ceiling of the RPC stack on this machine.
        #[arg(long)]
        reads_only: bool,
    },
    /// Server start time (the replay of stored commands) as a project's history grows: one
    /// project is filled through the API with a realistic mix of commands, and the start is
    /// timed at each size.
    Restart {
        /// Stored commands at which to time the start (repeatable); default 5k, 10k, 20k,
        /// 50k and 100k.
        #[arg(long = "commands", value_name = "N")]
        commands: Vec<u64>,
        /// The cloud the project simulates.
        #[arg(long, default_value = "huawei")]
        provider: String,
        /// Starts timed at each size (min, median and max are printed).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Live mode's throughput (as root): a bulk TCP transfer by iperf3 between two instances
    /// of scenarios/two-instances.yaml, through the simulated security groups and ACL.
    /// Prints datagrams_per_second (real datagrams through the simulator per wall second),
    /// device_io_us_per_frame (read or write on a TAP device) and simulator_us_per_datagram.
    Live {
        /// Seconds iperf3 sends for.
        #[arg(long, default_value_t = 5)]
        seconds: u32,
    },
    /// `vpclab generate` timed: the workload loaded, simulated, formatted and delivered in
    /// the provider's layout (aws: gzip text files) with the truth and summary, into a
    /// temporary directory removed afterwards.
    /// Prints virtual_seconds_per_wall_second, records_per_second,
    /// equivalent_packets_per_second and peak_rss_mb (MiB, VmHWM; n/a off Linux) last. Rates
    /// are over the wall time from loading to the last file written; equivalent packets are
    /// the simulation's packet counter (each packet sent once, whatever number of records
    /// count it; record_packets is the records' sum).
    Generate {
        /// The workload (default: scenarios/workloads/enterprise-day.yaml, built in: a day
        /// of 1,000 ENIs with ten incidents, the target of 60 s on one core).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Only the first H virtual hours (fractions allowed); default the whole script.
        #[arg(long, value_name = "H")]
        hours: Option<f64>,
        /// Simulate this cloud instead of the file's: huawei, alibaba, tencent or aws.
        #[arg(long)]
        provider: Option<String>,
        /// Without packet trains: every packet through the pipeline.
        #[arg(long)]
        per_packet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = command(cli.command);
    // Commands that printed progress with `say!` report a failed line now that they are done.
    output::finish(code)
}

fn command(command: Command) -> ExitCode {
    match command {
        Command::Serve {
            listen,
            data_dir,
            tokens,
            provider,
            seed,
            start,
            quotas,
            http,
        } => {
            let provider = match provider.parse::<Provider>() {
                Ok(p) => p,
                Err(e) => return fail(BAD_INPUT, &e),
            };
            serve::run(&serve::Options {
                listen,
                data_dir: &data_dir,
                tokens: tokens.as_deref(),
                provider,
                seed,
                start,
                quotas: quotas.quotas(),
                http,
            })
        }
        Command::Ui {
            file,
            http,
            max_packets,
        } => console::ui(&file, http, max_packets),
        Command::Live {
            file,
            exec,
            shell,
            window,
            duration,
            provider,
            format,
            explain,
            pcapng,
            pcap,
            command,
        } => match live::execs(exec, command) {
            Ok(execs) => live::cmd_live(live::Args {
                file: &file,
                provider,
                format,
                explain,
                window,
                duration,
                pcapng: pcapng.as_deref(),
                pcap: pcap.as_deref(),
                execs,
                shell,
                bench: false,
            }),
            Err(e) => fail(BAD_INPUT, &e),
        },
        Command::Apply {
            file,
            server,
            token,
        } => client::apply(&file, &server, token.as_deref()),
        Command::Export {
            server,
            token,
            output,
        } => client::export(&server, token.as_deref(), output.as_deref()),
        Command::Bench {
            target:
                Some(BenchTarget::Api {
                    clients,
                    ops,
                    reads_only,
                }),
            ..
        } => bench_api::run(clients, ops, reads_only),
        Command::Bench {
            target:
                Some(BenchTarget::Restart {
                    commands,
                    provider,
                    runs,
                }),
            ..
        } => {
            let provider = match provider.parse::<Provider>() {
                Ok(p) => p,
                Err(e) => return fail(BAD_INPUT, &e),
            };
            let sizes = if commands.is_empty() {
                bench_restart::DEFAULT_SIZES.to_vec()
            } else {
                commands
            };
            bench_restart::run(&bench_restart::Options {
                sizes,
                provider,
                runs,
            })
        }
        Command::Bench {
            target: Some(BenchTarget::Live { seconds }),
            ..
        } => live::bench(seconds),
        Command::Bench {
            target:
                Some(BenchTarget::Generate {
                    file,
                    hours,
                    provider,
                    per_packet,
                }),
            ..
        } => bench_generate::run(&bench_generate::Args {
            file,
            hours,
            provider,
            per_packet,
        }),
        Command::Run {
            file,
            provider,
            format,
            aws_fields,
            header,
            explain,
            explain_flow,
            explain_record,
            pcap,
            pcapng,
        } => cmd_run(&RunArgs {
            header,
            file: &file,
            provider,
            format,
            aws_fields,
            explain,
            explain_flow,
            explain_record,
            pcap: pcap.as_deref(),
            pcapng: pcapng.as_deref(),
        }),
        Command::Generate {
            file,
            out,
            force,
            provider,
            file_format,
            quiet,
            per_packet,
        } => generate::run(&generate::Args {
            file,
            out,
            force,
            provider,
            file_format,
            quiet,
            per_packet,
        }),
        Command::Test { paths } => cmd_test(paths),
        Command::Graph {
            file,
            format,
            out,
            provider,
            no_flows,
        } => cmd_graph(&file, &format, out.as_deref(), provider, no_flows),
        Command::Score {
            truth,
            alerts,
            grace,
            format,
        } => score::run(&truth, &alerts, grace, format),
        Command::Check { files } => cmd_check(&files),
        Command::Bench {
            target: None,
            flows,
            rules,
            packets,
            seed,
            no_compare,
            multi_flows,
        } => {
            let opts = bench::Options {
                flows,
                rules,
                packets,
                seed,
                compare_rules: !no_compare,
                multi_flows,
            };
            match bench::run(&opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(1, &e),
            }
        }
    }
}

/// Exit code for input that could not be used (bad file, bad flag).
pub(crate) const BAD_INPUT: u8 = 2;

fn load_file(path: &Path, opts: &Options) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    load(&path.display().to_string(), &text, opts).map_err(|e| e.to_string())
}

struct RunArgs<'a> {
    file: &'a Path,
    provider: Option<String>,
    format: Option<String>,
    aws_fields: Option<String>,
    explain: bool,
    explain_flow: Option<String>,
    explain_record: Option<usize>,
    pcap: Option<&'a Path>,
    pcapng: Option<&'a Path>,
    header: bool,
}

/// Which packets `--explain` shows.
enum Shown {
    All,
    /// `--explain-flow`.
    Flow(FlowFilter),
    /// `--explain-record`: the record's packet ids, sorted.
    Packets(Vec<u64>),
}

impl Shown {
    fn packet(&self, o: &Outcome) -> bool {
        match self {
            Shown::All => true,
            Shown::Flow(f) => f.matches(o),
            Shown::Packets(ids) => ids.binary_search(&o.id).is_ok(),
        }
    }

    /// A filtered explanation keeps the notes about the packets it shows.
    fn note(&self, n: &Note, about: Option<&Outcome>) -> bool {
        match self {
            Shown::All => true,
            Shown::Flow(f) => about.is_some_and(|o| f.matches(o)),
            Shown::Packets(ids) => n.packet.is_some_and(|p| ids.binary_search(&p).is_ok()),
        }
    }
}

/// `--explain-flow "SRC DST [PROTO [SPORT [DPORT]]]"`, before the world it filters exists.
struct FlowArg {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: Option<ProtoMatch>,
    sport: u16,
    dport: u16,
}

fn parse_flow(text: &str) -> Result<FlowArg, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if !(2..=5).contains(&words.len()) {
        return Err(format!(
            "`{text}`: expected \"SRC DST [PROTO [SPORT [DPORT]]]\", e.g. \"203.0.113.12 198.51.100.10 icmp\""
        ));
    }
    let addr = |w: &str, what: &str| {
        w.parse::<Ipv4Addr>()
            .map_err(|_| format!("{what} `{w}` is not an IPv4 address"))
    };
    let port = |w: Option<&&str>, what: &str| match w {
        None => Ok(0),
        Some(w) => w
            .parse::<u16>()
            .map_err(|_| format!("{what} `{w}` is not a port (0-65535, 0 for any)")),
    };
    let proto = match words.get(2) {
        None => None,
        Some(w) => Some(parse::protocol(w, None, None).map_err(|e| match e {
            parse::ProtocolError::Protocol(m)
            | parse::ProtocolError::IcmpType(m)
            | parse::ProtocolError::IcmpCode(m)
            | parse::ProtocolError::NotIcmp(m) => m,
        })?),
    };
    Ok(FlowArg {
        src: addr(words[0], "SRC")?,
        dst: addr(words[1], "DST")?,
        proto,
        sport: port(words.get(3), "SPORT")?,
        dport: port(words.get(4), "DPORT")?,
    })
}

fn cmd_run(a: &RunArgs) -> ExitCode {
    let file = a.file;
    let provider = match generate::parse_provider(a.provider.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    let table = a.format.as_deref() == Some("table");
    let format = match (&a.format, &a.aws_fields) {
        (Some(_), None) if table => None,
        (Some(_), Some(fields)) if table => match Format::parse("aws", Some(fields)) {
            Ok(f) => Some(f),
            Err(e) => return fail(BAD_INPUT, &format!("--aws-fields: {e}")),
        },
        (Some(f), fields) => match Format::parse(f, fields.as_deref()) {
            Ok(f) => Some(f),
            Err(e) => return fail(BAD_INPUT, &format!("--format: {e}")),
        },
        (None, Some(fields)) => match Format::parse("aws", Some(fields)) {
            Ok(f) => Some(f),
            Err(e) => return fail(BAD_INPUT, &format!("--aws-fields: {e}")),
        },
        (None, None) => None,
    };
    let flow = match a.explain_flow.as_deref().map(parse_flow).transpose() {
        Ok(f) => f,
        Err(e) => return fail(BAD_INPUT, &format!("--explain-flow: {e}")),
    };
    let explain = a.explain || flow.is_some() || a.explain_record.is_some();
    let opts = Options {
        provider,
        format,
        explain,
        capture: a.pcap.is_some() || a.pcapng.is_some(),
        labels_only: false,
    };
    let mut shown = Shown::All;
    if let Some(n) = a.explain_record {
        // A record is known only when its window closes, long after the packets it counts
        // were sent, and a streamed explanation keeps no packet. The scenario is
        // deterministic (same file, same packets, same ids), so a first run without
        // explanations learns the record's packet ids and the streamed run below shows those.
        let quiet = Options {
            explain: false,
            capture: false,
            ..opts.clone()
        };
        let mut first = match load_file(file, &quiet) {
            Ok(l) => l,
            Err(e) => return fail(BAD_INPUT, &e),
        };
        let result = match run(&mut first) {
            Ok(r) => r,
            Err(e) => return fail(BAD_INPUT, &format!("{}: {e}", file.display())),
        };
        match result.packets_of_printed(&first, n) {
            Ok(ids) => {
                let mut ids = ids.to_vec();
                ids.sort_unstable();
                shown = Shown::Packets(ids);
            }
            Err(0) => {
                return fail(
                    BAD_INPUT,
                    &format!("--explain-record {n}: the run prints no records"),
                );
            }
            Err(count) => {
                return fail(
                    BAD_INPUT,
                    &format!("--explain-record {n}: the run prints {count} records (1 to {count})"),
                );
            }
        }
    }
    let mut loaded = match load_file(file, &opts) {
        Ok(l) => l,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    if table {
        match table::positional(&loaded.format) {
            Some(f) => loaded.format = f,
            None => {
                return fail(
                    BAD_INPUT,
                    &format!(
                        "--format table: {} records are key/value lines, not columns; use --format {} or json",
                        loaded.provider,
                        loaded.format.name()
                    ),
                );
            }
        }
    }
    // With --header, the field names before the first record, and again when they change
    // (router and CCN records name other fields).
    let mut header: Option<Vec<&'static str>> = None;
    match (a.header, loaded.format.positional_fields()) {
        (false, _) | (true, Some(_)) => {}
        (true, None) => {
            return fail(
                BAD_INPUT,
                &format!(
                    "--header: the {} format names its fields on every line; it has no header",
                    loaded.format.name()
                ),
            );
        }
    }
    let mut rows = table::Table::default();
    if let Some(f) = flow {
        shown = Shown::Flow(FlowFilter::new(
            &loaded.sim.world,
            f.src,
            f.dst,
            f.proto,
            f.sport,
            f.dport,
        ));
    }
    let origin = Some(loaded.start);
    let description = loaded.description.clone();
    output::to_stdout(|w| {
        // With --explain the records follow the explanations, so their lines wait (memory
        // grows with the records, not the packets); without, they print as windows close.
        let mut records: Vec<String> = Vec::new();
        // A pcap file is still wanted when the reader of the output has gone: the run goes
        // on without printing.
        let mut closed = false;
        // The packets' traces, for the records' explanations (`# records`).
        let mut traces = Traces::default();
        if explain && let Some(d) = &description {
            for line in d.trim_end().lines() {
                writeln!(w, "{}", format!("# {line}").trim_end())?;
            }
            writeln!(w)?;
        }
        let streamed = stream(&mut loaded, |world, item| {
            if closed {
                return Ok(());
            }
            let written = match item {
                Streamed::Packet(o) if explain => {
                    traces.keep(world, o);
                    if shown.packet(o) {
                        explain::packet(world, o, origin)
                            .iter()
                            .try_for_each(|line| writeln!(w, "{line}"))
                    } else {
                        Ok(())
                    }
                }
                Streamed::Note(n, about) if explain && shown.note(n, about) => {
                    writeln!(w, "{}", note_line(n, origin))
                }
                Streamed::Record(line, fields, _) if table => {
                    rows.push(fields.unwrap_or_default(), line);
                    Ok(())
                }
                Streamed::Record(line, fields, record) => {
                    let mut text = String::new();
                    if a.header && fields.is_some() && fields != header {
                        header = fields;
                        text = header.as_deref().unwrap_or_default().join(" ") + "\n";
                    }
                    text.push_str(line);
                    if explain {
                        for why in traces.why(record, origin) {
                            text.push('\n');
                            text.push_str(&why);
                        }
                        records.push(text);
                        Ok(())
                    } else {
                        writeln!(w, "{text}")
                    }
                }
                Streamed::Packet(_) | Streamed::Note(..) => Ok(()),
            };
            match written {
                Err(e)
                    if e.kind() == io::ErrorKind::BrokenPipe
                        && (a.pcap.is_some() || a.pcapng.is_some()) =>
                {
                    closed = true;
                    Ok(())
                }
                r => r,
            }
        });
        match streamed {
            Ok(()) => {}
            Err(StreamError::Sink(e)) => return Err(e),
            Err(StreamError::Model(e)) => {
                return Ok(fail(BAD_INPUT, &format!("{}: {e}", file.display())));
            }
        }
        if explain && !closed {
            writeln!(w, "\n# records")?;
            for line in &records {
                writeln!(w, "{line}")?;
            }
        }
        if table && !closed {
            if explain {
                writeln!(w, "\n# records")?;
            }
            for line in rows.lines() {
                writeln!(w, "{line}")?;
            }
        }
        let captures = loaded.sim.world.take_captures();
        if let Some(p) = a.pcapng
            && let Err(e) = std::fs::write(p, run::pcap(&loaded, &captures))
        {
            return Ok(fail(1, &format!("{}: cannot write: {e}", p.display())));
        }
        if let Some(p) = a.pcap {
            let (bytes, legend) = run::classic_pcap(&loaded, &captures);
            if let Err(e) = std::fs::write(p, bytes) {
                return Ok(fail(1, &format!("{}: cannot write: {e}", p.display())));
            }
            eprintln!(
                "vpclab: {}: {} packets; capture points by Ethernet source address:",
                p.display(),
                captures.len()
            );
            for line in legend {
                eprintln!("  {line}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Packets of a run `vpclab graph` reads at most: a workload's day would take minutes, and
/// its first packets already show its kinds of flow.
const GRAPH_PACKETS: u64 = 200_000;

fn cmd_graph(
    file: &Path,
    format: &str,
    out: Option<&Path>,
    provider: Option<String>,
    no_flows: bool,
) -> ExitCode {
    let format = match format.parse::<graph::GraphFormat>() {
        Ok(f) => f,
        Err(e) => return fail(BAD_INPUT, &format!("--format: {e}")),
    };
    let provider = match generate::parse_provider(provider.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    let opts = Options {
        provider,
        explain: !no_flows,
        ..Options::default()
    };
    let mut loaded = match load_file(file, &opts) {
        Ok(l) => l,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    // Before the run: its script may change the world.
    let topology = graph::Topology::of(&loaded.sim.world);
    let flows = if no_flows {
        None
    } else {
        let mut flows = graph::Flows::default();
        // A streamed run keeps no packet: the flows grow with their kinds, not the packets.
        let streamed = stream(&mut loaded, |world, item| {
            if let Streamed::Packet(o) = item {
                if flows.packets == GRAPH_PACKETS {
                    return Err(());
                }
                flows.add(world, o);
            }
            Ok(())
        });
        match streamed {
            Ok(()) => {}
            Err(StreamError::Sink(())) => flows.truncated = true,
            Err(StreamError::Model(e)) => {
                return fail(BAD_INPUT, &format!("{}: {e}", file.display()));
            }
        }
        Some(flows)
    };
    let text = graph::render(&topology, flows.as_ref(), format);
    match out {
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(1, &format!("{}: cannot write: {e}", p.display())),
        },
        None => output::to_stdout(|w| {
            w.write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// Scenario files under the given paths, sorted, so runs are reproducible.
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                let entries =
                    std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                for e in entries {
                    let path = e.map_err(|e| format!("{}: {e}", dir.display()))?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                        files.push(path);
                    }
                }
            }
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    files.sort();
    Ok(files)
}

fn cmd_test(paths: Vec<PathBuf>) -> ExitCode {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    };
    let files = match scenario_files(&paths) {
        Ok(f) => f,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    output::to_stdout(|w| test_files(w, &files))
}

fn test_files(w: &mut dyn Write, files: &[PathBuf]) -> io::Result<ExitCode> {
    let (mut passed, mut failed) = (0, 0);
    for f in files {
        // The report so far, so a long run shows its progress.
        w.flush()?;
        let shown = f.display().to_string();
        let mut loaded = match load_file(f, &Options::default()) {
            Ok(l) => l,
            Err(e) => {
                writeln!(w, "FAIL {shown}\n    {e}")?;
                failed += 1;
                continue;
            }
        };
        // A dataset (a workload without expectations) is for `generate`, not a test.
        if loaded.workload.is_some() && loaded.expectations.is_empty() {
            writeln!(
                w,
                "SKIP {shown} (a workload without expectations: `vpclab generate` writes it)"
            )?;
            continue;
        }
        let failures = match run(&mut loaded) {
            Ok(r) => r.check(&loaded),
            Err(e) => {
                writeln!(w, "FAIL {shown}\n    {e}")?;
                failed += 1;
                continue;
            }
        };
        if loaded.expectations.is_empty() {
            writeln!(w, "FAIL {shown}\n    the scenario has no expectations")?;
            failed += 1;
        } else if failures.is_empty() {
            writeln!(
                w,
                "PASS {shown} ({} expectations)",
                loaded.expectations.len()
            )?;
            passed += 1;
        } else {
            writeln!(w, "FAIL {shown}")?;
            for x in failures {
                writeln!(w, "  {shown}:{}: {}", x.line, x.message)?;
            }
            failed += 1;
        }
    }
    writeln!(w, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn cmd_check(files: &[PathBuf]) -> ExitCode {
    if files.is_empty() {
        return fail(BAD_INPUT, "check: name at least one scenario file");
    }
    let files = match scenario_files(files) {
        Ok(f) => f,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    output::to_stdout(|w| {
        let mut bad = false;
        for f in &files {
            match load_file(f, &Options::default()) {
                Ok(_) => writeln!(w, "ok {}", f.display())?,
                Err(e) => {
                    // The lines so far first, so a terminal shows both in file order.
                    w.flush()?;
                    output::warn(format_args!("{e}"));
                    bad = true;
                }
            }
        }
        Ok(if bad {
            ExitCode::from(BAD_INPUT)
        } else {
            ExitCode::SUCCESS
        })
    })
}

pub(crate) fn fail(code: u8, message: &str) -> ExitCode {
    output::warn(format_args!("vpclab: {message}"));
    ExitCode::from(code)
}
