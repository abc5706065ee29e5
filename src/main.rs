//! `vpclab`: run, test and check scenario files; serve the gRPC control plane, apply scenarios
//! to it and export its state; benchmark the data plane and the API.

mod alloc_count;
mod bench;
mod bench_api;
mod bench_multi;
mod client;
mod serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vpclab_controlplane::{Loaded, Options, load, run};
use vpclab_sim::flowlog::format::Format;
use vpclab_sim::profile::Provider;

/// Counts live heap bytes, for the benchmark's bytes-per-flow figure.
#[global_allocator]
static ALLOCATOR: alloc_count::Counting = alloc_count::COUNTING;

#[derive(Parser)]
#[command(
    name = "vpclab",
    version,
    about = "A deterministic cloud-network simulator and its flow logs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and print its flow-log records.
    Run {
        file: PathBuf,
        /// Simulate this cloud instead of the file's: huawei, alibaba, tencent or aws.
        #[arg(long)]
        provider: Option<String>,
        /// Record format: huawei, huawei-er, alibaba, tencent, tencent-positional, aws,
        /// aws-tgw, json. Router records print in the router counterpart of an ENI format
        /// (huawei → huawei-er, aws → aws-tgw) and ENI records the reverse.
        #[arg(long)]
        format: Option<String>,
        /// With `--format aws`: a custom field list, e.g. "version vpc-id srcaddr tcp-flags"
        /// (VPC fields) or "version tgw-id srcaddr packets-lost-blackhole" (transit gateway).
        #[arg(long)]
        aws_fields: Option<String>,
        /// Explain every packet: its path and each stage's verdict.
        #[arg(long)]
        explain: bool,
        /// Write every packet at every capture point to this pcapng file.
        #[arg(long)]
        pcap: Option<PathBuf>,
    },
    /// Run scenarios' expectations (files, or directories of .yaml files; default scenarios/).
    Test { paths: Vec<PathBuf> },
    /// Validate scenario files (or directories of them) without running them.
    Check { files: Vec<PathBuf> },
    /// Serve the gRPC control plane (reflection and health included).
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
    },
    /// Create a scenario's topology and flow logs on a running server.
    Apply {
        file: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// Bearer token (or the VPCLAB_TOKEN environment variable).
        #[arg(long, env = "VPCLAB_TOKEN")]
        token: Option<String>,
    },
    /// Write a server's state as a scenario file that applies back to an equal state.
    Export {
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        #[arg(long, env = "VPCLAB_TOKEN")]
        token: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Benchmark the data plane (SG + ACL + conntrack + route + aggregation + formatting), or
    /// with `api` the gRPC server. Build with --release.
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            tokens,
            provider,
            seed,
            start,
            quotas,
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
            })
        }
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
            target: Some(BenchTarget::Api { clients, ops }),
            ..
        } => bench_api::run(clients, ops),
        Command::Run {
            file,
            provider,
            format,
            aws_fields,
            explain,
            pcap,
        } => cmd_run(
            &file,
            provider,
            format,
            aws_fields,
            explain,
            pcap.as_deref(),
        ),
        Command::Test { paths } => cmd_test(paths),
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

fn cmd_run(
    file: &Path,
    provider: Option<String>,
    format: Option<String>,
    aws_fields: Option<String>,
    explain: bool,
    pcap: Option<&Path>,
) -> ExitCode {
    let provider = match provider.map(|p| p.parse::<Provider>()).transpose() {
        Ok(p) => p,
        Err(e) => return fail(BAD_INPUT, &format!("--provider: {e}")),
    };
    let format = match (format, aws_fields) {
        (Some(f), fields) => match Format::parse(&f, fields.as_deref()) {
            Ok(f) => Some(f),
            Err(e) => return fail(BAD_INPUT, &format!("--format: {e}")),
        },
        (None, Some(fields)) => match Format::parse("aws", Some(&fields)) {
            Ok(f) => Some(f),
            Err(e) => return fail(BAD_INPUT, &format!("--aws-fields: {e}")),
        },
        (None, None) => None,
    };
    let opts = Options {
        provider,
        format,
        explain,
        capture: pcap.is_some(),
    };
    let mut loaded = match load_file(file, &opts) {
        Ok(l) => l,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    let result = match run(&mut loaded) {
        Ok(r) => r,
        Err(e) => return fail(BAD_INPUT, &format!("{}: {e}", file.display())),
    };
    let mut out = String::new();
    if explain {
        out.push_str(&result.explain(&loaded));
        out.push_str("\n# records\n");
    }
    for line in result.lines() {
        out.push_str(line);
        out.push('\n');
    }
    print!("{out}");
    if let Some(p) = pcap
        && let Err(e) = std::fs::write(p, result.pcap(&loaded))
    {
        return fail(1, &format!("{}: cannot write: {e}", p.display()));
    }
    ExitCode::SUCCESS
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
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let shown = f.display().to_string();
        let mut loaded = match load_file(f, &Options::default()) {
            Ok(l) => l,
            Err(e) => {
                println!("FAIL {shown}\n    {e}");
                failed += 1;
                continue;
            }
        };
        let failures = match run(&mut loaded) {
            Ok(r) => r.check(&loaded),
            Err(e) => {
                println!("FAIL {shown}\n    {e}");
                failed += 1;
                continue;
            }
        };
        if loaded.expectations.is_empty() {
            println!("FAIL {shown}\n    the scenario has no expectations");
            failed += 1;
        } else if failures.is_empty() {
            println!("PASS {shown} ({} expectations)", loaded.expectations.len());
            passed += 1;
        } else {
            println!("FAIL {shown}");
            for x in failures {
                println!("  {shown}:{}: {}", x.line, x.message);
            }
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn cmd_check(files: &[PathBuf]) -> ExitCode {
    if files.is_empty() {
        return fail(BAD_INPUT, "check: name at least one scenario file");
    }
    let files = match scenario_files(files) {
        Ok(f) => f,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    let mut bad = false;
    for f in &files {
        match load_file(f, &Options::default()) {
            Ok(_) => println!("ok {}", f.display()),
            Err(e) => {
                eprintln!("{e}");
                bad = true;
            }
        }
    }
    if bad {
        ExitCode::from(BAD_INPUT)
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("vpclab: {message}");
    ExitCode::from(code)
}
