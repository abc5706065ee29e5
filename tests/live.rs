//! `vpclab live` as a user runs it, as root: real `ping`, `nc` and a tiny HTTP exchange in
//! network namespaces, through the simulated cloud. The ping/ACL asymmetry gives the
//! documented records (inbound ACCEPT, outbound REJECT; on huawei both ACCEPT and the pings
//! come back), a real TCP session through a NAT gateway gives the records the synthetic one
//! does, the host's network is the same before, during and after a run, a packet to an
//! address nobody simulates is lost inside, and namespaces go away at the end, on Ctrl-C and,
//! after a `kill -9`, at the next run. Needs iproute2, iputils-ping and netcat-openbsd
//! (`.ci/run` installs them) and root.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;
use common::{stderr, stdout, temp_dir, vpclab};

/// Live runs one at a time: each removes the namespaces of runs that are gone, which the
/// `kill -9` test leaves behind on purpose.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The lock of one live run, or None to skip (`VPCLAB_SKIP_LIVE=1`). Without root or the
/// tools, the test fails and says what is missing.
fn serial() -> Option<std::sync::MutexGuard<'static, ()>> {
    if std::env::var_os("VPCLAB_SKIP_LIVE").is_some() {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t0\t")),
        "tests/live.rs makes network namespaces: run it as root, or set VPCLAB_SKIP_LIVE=1"
    );
    for (tool, package) in [
        ("ip", "iproute2"),
        ("ping", "iputils-ping"),
        ("nc", "netcat-openbsd"),
        ("traceroute", "traceroute"),
        ("iperf3", "iperf3"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "tests/live.rs needs `{tool}`: apt-get install {package}"
        );
    }
    Some(ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()))
}

fn live(args: &[&str]) -> Output {
    let mut all = vec!["live"];
    all.extend_from_slice(args);
    let o = vpclab(&all);
    assert!(o.status.success(), "vpclab {all:?}:\n{}", stderr(&o));
    o
}

/// Records with the fields a real stack chooses (an echo identifier, an ephemeral port)
/// replaced by `ID`.
fn masked(records: &str) -> Vec<String> {
    records
        .lines()
        .map(|l| {
            l.split(' ')
                .map(|w| match w.strip_prefix("srcport:") {
                    Some(_) => "srcport:ID",
                    None => w,
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn namespaces_of(pid: u32) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("vpclab-{pid}-")))
        .map(String::from)
        .collect();
    names.sort();
    names
}

/// The host's own network: interfaces with their addresses, routes, policy rules.
fn host_network() -> String {
    let mut all = String::new();
    for args in [
        &["-o", "link", "show"][..],
        &["-o", "address", "show"],
        &["route", "show", "table", "all"],
        &["rule", "show"],
    ] {
        let out = Command::new("ip").args(args).output().expect("ip runs");
        all.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    all
}

/// Starts `vpclab live ARGS` and waits until its namespaces are up (its stderr names them).
fn start(args: &[&str]) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .arg("live")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vpclab runs");
    let mut err = BufReader::new(child.stderr.take().expect("piped"));
    let mut seen = 0;
    let mut line = String::new();
    while seen < 2 {
        line.clear();
        assert!(
            err.read_line(&mut line).expect("stderr") > 0,
            "vpclab ended early"
        );
        if line.contains(" in netns ") {
            seen += 1;
        }
    }
    (child, err)
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(Instant::now() < until, "vpclab did not end in {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The issue's example: four pings from the home computer to the instance's elastic IP.
const PING_FROM_HOME: [&str; 11] = [
    "--exec",
    "home",
    "--",
    "ping",
    "-c",
    "4",
    "-i",
    "0.2",
    "-W",
    "1",
    "198.51.100.10",
];

#[test]
fn real_pings_across_the_stateless_acl_give_the_documented_records() {
    let Some(_one) = serial() else { return };
    let o = live(&[&["scenarios/ping-acl-asymmetry.yaml"][..], &PING_FROM_HOME].concat());
    // The scenario's expected lines (tencent's key:value format), the echo identifier aside:
    // the requests ACCEPTed inbound, the replies REJECTed outbound by the ACL, 4 packets of
    // 84 bytes each way.
    assert_eq!(
        masked(&stdout(&o)),
        [
            "srcaddr:203.0.113.12 dstport:2048 account-id:1251762227 start:1432917000 \
             dstaddr:172.31.16.139 version:0001_0001 packets:4 protocol:1 bytes:336 \
             action:ACCEPT srcport:ID end:1432917300 log-status:OK interface-id:eni-lq6mkcis",
            "srcaddr:172.31.16.139 dstport:0 account-id:1251762227 start:1432917000 \
             dstaddr:203.0.113.12 version:0001_0001 packets:4 protocol:1 bytes:336 \
             action:REJECT srcport:ID end:1432917300 log-status:OK interface-id:eni-lq6mkcis",
        ]
    );
    let err = stderr(&o);
    assert!(
        err.contains("home| 4 packets transmitted, 0 received, 100% packet loss"),
        "{err}"
    );
    assert!(err.contains("vpclab: home: `ping -c 4 -i 0.2 -W 1 198.51.100.10` exited with 1"));
}

#[test]
fn on_huawei_the_acl_tracks_the_ping_and_the_replies_come_back() {
    let Some(_one) = serial() else { return };
    let dir = temp_dir("live-pcap");
    let pcap = dir.join("ping.pcap");
    let flags = [
        "scenarios/ping-acl-asymmetry.yaml",
        "--provider",
        "huawei",
        "--pcap",
        pcap.to_str().unwrap(),
    ];
    let o = live(&[&flags[..], &PING_FROM_HOME].concat());
    assert_eq!(
        stdout(&o),
        "1 1251762227 eni-lq6mkcis 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917000 1432917600 ACCEPT OK\n\
         1 1251762227 eni-lq6mkcis 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917000 1432917600 ACCEPT OK\n"
    );
    assert!(stderr(&o).contains("home| 4 packets transmitted, 4 received, 0% packet loss"));
    // The capture holds the real pings as the instance's interface saw them: tcpdump reads
    // the requests in and the replies out, with ping's own identifier and sequence numbers.
    let dump = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(&pcap)
        .output()
        .expect("tcpdump runs");
    let dump = String::from_utf8_lossy(&dump.stdout);
    for (what, from) in [
        ("request", "203.0.113.12 > 172.31.16.139"),
        ("reply", "172.31.16.139 > 203.0.113.12"),
    ] {
        let seqs: Vec<&str> = dump
            .lines()
            .filter(|l| l.contains(from) && l.contains(&format!("ICMP echo {what}, id ")))
            .filter_map(|l| l.split(", seq ").nth(1)?.split(',').next())
            .collect();
        assert_eq!(seqs, ["1", "2", "3", "4"], "{what}s in:\n{dump}");
    }
}

#[test]
fn a_real_tcp_session_through_a_nat_gateway_gives_the_synthetic_records() {
    let Some(_one) = serial() else { return };
    let synthetic = vpclab(&["run", "scenarios/aws-nat-gateway.yaml"]);
    assert!(synthetic.status.success());
    let o = live(&[
        "scenarios/aws-nat-gateway.yaml",
        "--exec",
        "web",
        "--",
        "sh",
        "-c",
        r#"printf 'HTTP/1.0 200 OK\r\n\r\nhello from the internet\n' | nc -l 80"#,
        "--exec",
        "instance",
        "--",
        "sh",
        "-c",
        r#"sleep 0.3; printf 'GET / HTTP/1.0\r\n\r\n' | nc -q 1 -w 3 203.0.113.5 80"#,
    ]);
    // The six records of AWS's example: the instance's two, the NAT gateway's four (format
    // `instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr`, no ports or sizes).
    assert_eq!(stdout(&o), stdout(&synthetic));
    let err = stderr(&o);
    assert!(err.contains("web| GET / HTTP/1.0"), "{err}");
    assert!(err.contains("instance| hello from the internet"), "{err}");
}

#[test]
fn the_hosts_network_stays_untouched_and_unknown_addresses_are_lost_inside() {
    let Some(_one) = serial() else { return };
    let before = host_network();
    let (mut child, mut err) = start(&[
        "scenarios/ping-acl-asymmetry.yaml",
        "--explain",
        "--exec",
        "instance",
        "--",
        "sh",
        "-c",
        "sleep 0.5; nc -z -w 1 8.8.8.8 443",
    ]);
    let pid = child.id();
    assert_eq!(namespaces_of(pid).len(), 2);
    let during = host_network();
    let status = wait(&mut child, Duration::from_secs(20));
    assert!(status.success());
    let after = host_network();
    assert_eq!(before, during, "the host's network changed during the run");
    assert_eq!(before, after, "the host's network changed after the run");
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
    // The SYN to 8.8.8.8 left the instance, was translated at the internet gateway and
    // reached the simulated internet, where nobody has the address.
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().expect("piped"), &mut out).unwrap();
    assert!(
        out.contains("    IGW igw-4d9jqqqk: source 172.31.16.139 -> elastic IP 198.51.100.10\n    lost: no host answers at 8.8.8.8\n"),
        "{out}"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(
        rest.contains("`sh -c sleep 0.5; nc -z -w 1 8.8.8.8 443` exited with 1"),
        "{rest}"
    );
}

#[test]
fn ctrl_c_prints_the_records_and_removes_the_namespaces() {
    let Some(_one) = serial() else { return };
    let (mut child, _err) = start(&[
        "scenarios/ping-acl-asymmetry.yaml",
        "--provider",
        "huawei",
        "--exec",
        "home",
        "--",
        "ping",
        "-i",
        "0.2",
        "198.51.100.10",
    ]);
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: kill(2) of the child we started.
    assert_eq!(unsafe { libc_kill(pid as i32, 2) }, 0);
    let status = wait(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().expect("piped"), &mut out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for line in lines {
        assert!(line.ends_with(" 1432917000 1432917600 ACCEPT OK"), "{line}");
    }
}

#[test]
fn a_run_killed_with_sigkill_is_cleaned_up_by_the_next() {
    let Some(_one) = serial() else { return };
    let (mut child, _err) = start(&["scenarios/ping-acl-asymmetry.yaml", "--duration", "60"]);
    let pid = child.id();
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let left = namespaces_of(pid);
    assert_eq!(
        left,
        [
            format!("vpclab-{pid}-home"),
            format!("vpclab-{pid}-instance")
        ]
    );
    let o = live(&["scenarios/ping-acl-asymmetry.yaml", "--duration", "0"]);
    for name in left {
        assert!(
            stderr(&o).contains(&format!(
                "vpclab: removed {name}, left by a run that is gone"
            )),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
}

#[test]
fn without_privileges_it_says_so_and_exits_2() {
    // As root, root without capabilities (the bounding set emptied, as for a user); as a
    // user, the user.
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:\t0\t"));
    let args = ["live", "scenarios/ping-acl-asymmetry.yaml"];
    let o = if root {
        Command::new("setpriv")
            .args(["--bounding-set=-all", "--"])
            .arg(env!("CARGO_BIN_EXE_vpclab"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("setpriv runs")
    } else {
        vpclab(&args)
    };
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "vpclab: live: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to make network \
         namespaces; run it with sudo\n"
    );
}

#[test]
fn an_unknown_host_is_refused_before_anything_is_made() {
    let o = vpclab(&[
        "live",
        "scenarios/ping-acl-asymmetry.yaml",
        "--exec",
        "nobody",
        "--",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "vpclab: no interface or host named \"nobody\" in scenarios/ping-acl-asymmetry.yaml; \
         it has: instance, home\n"
    );
    let o = vpclab(&[
        "live",
        "scenarios/ping-acl-asymmetry.yaml",
        "--",
        "ping",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "vpclab: a command after `--` needs `--exec NAME` before it\n"
    );
}

#[test]
fn short_windows_split_the_records_as_they_say() {
    let Some(_one) = serial() else { return };
    let o = live(&[
        "scenarios/ping-acl-asymmetry.yaml",
        "--provider",
        "huawei",
        "--window",
        "1",
        "--exec",
        "home",
        "--",
        "ping",
        "-c",
        "3",
        "-i",
        "0.7",
        "198.51.100.10",
    ]);
    assert!(stderr(&o).contains("vpclab: capture windows of 1 s (--window), not the cloud's"));
    // Three pings 0.7 s apart over one-second windows: two windows at least, each record
    // one second long, three requests and three replies in all.
    let mut windows = std::collections::BTreeSet::new();
    let mut packets = [0, 0];
    for line in stdout(&o).lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (start, end): (u64, u64) = (f[10].parse().unwrap(), f[11].parse().unwrap());
        assert_eq!(end - start, 1, "{line}");
        windows.insert(start);
        let inbound = f[3] == "203.0.113.12";
        packets[usize::from(inbound)] += f[8].parse::<u32>().unwrap();
    }
    assert!(windows.len() >= 2, "{}", stdout(&o));
    assert_eq!(packets, [3, 3]);
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn bench_live_moves_iperf3_through_the_simulator_and_prints_its_figures() {
    let Some(_one) = serial() else { return };
    let found = Command::new("sh")
        .args(["-c", "command -v iperf3"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`vpclab bench live` needs iperf3: apt-get install iperf3"
    );
    let o = vpclab(&["bench", "live", "--seconds", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let figures: std::collections::BTreeMap<String, f64> = stdout(&o)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a number")))
        .collect();
    let keys: Vec<&str> = figures.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "datagrams_per_second",
            "datagrams_simulated",
            "device_io_us_per_frame",
            "frames_read",
            "frames_written",
            "live_wall_seconds",
            "simulator_us_per_datagram"
        ]
    );
    // A second of bulk TCP is thousands of segments and their ACKs, each read, simulated
    // and written once (ARP answers aside).
    assert!(figures["datagrams_simulated"] > 1000.0, "{figures:?}");
    assert!(figures["frames_written"] >= figures["datagrams_simulated"]);
    assert!(stderr(&o).contains("client| iperf Done."), "{}", stderr(&o));
}

#[test]
fn linuxs_traceroute_finds_the_nat_gateway_and_then_the_host() {
    let Some(_one) = serial() else { return };
    // The NAT gateway is a routed hop (its time-exceeded reaches the real socket); the host's
    // port-unreachable comes back through the gateway's translation to end the trace.
    let o = live(&[
        "scenarios/traceroute.yaml",
        "--exec",
        "instance",
        "--",
        "traceroute",
        "-n",
        "-q",
        "1",
        "-w",
        "1",
        "-m",
        "3",
        "203.0.113.5",
    ]);
    let hops: Vec<String> = stderr(&o)
        .lines()
        .filter_map(|l| l.strip_prefix("instance| "))
        .filter(|l| l.starts_with(' '))
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(hops, ["1 10.0.0.220", "2 203.0.113.5"], "{}", stderr(&o));
}

#[test]
fn a_shell_in_a_hosts_namespace_runs_what_it_is_given() {
    let Some(_one) = serial() else { return };
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args([
            "live",
            "scenarios/ping-acl-asymmetry.yaml",
            "--provider",
            "huawei",
            "--shell",
            "home",
        ])
        .env("SHELL", "/bin/sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vpclab runs");
    // What a user would type: where am I, then two pings; the shell ends at end of input.
    std::io::Write::write_all(
        child.stdin.as_mut().expect("piped"),
        b"ip -brief address show eth0\nping -c 2 -i 0.2 -W 1 198.51.100.10\n",
    )
    .unwrap();
    drop(child.stdin.take());
    let status = wait(&mut child, Duration::from_secs(20));
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().expect("piped"), &mut out).unwrap();
    assert!(out.contains("203.0.113.12/32"), "{out}");
    assert!(out.contains("2 packets transmitted, 2 received"), "{out}");
    assert!(
        out.ends_with(
            "1 1251762227 eni-lq6mkcis 203.0.113.12 172.31.16.139 0 0 1 2 168 1432917000 1432917600 ACCEPT OK\n\
             1 1251762227 eni-lq6mkcis 172.31.16.139 203.0.113.12 0 0 1 2 168 1432917000 1432917600 ACCEPT OK\n"
        ),
        "{out}"
    );
}

#[test]
fn real_linux_learns_the_path_mtu_from_the_simulated_internet_gateway() {
    let Some(_one) = serial() else { return };
    // fixed's eth0 has aws's MTU 9001; its 9000-byte echo with DF is too big for the internet
    // gateway (1500), whose fragmentation-needed its group admits: Linux caches the path's MTU
    // (docs/decisions/mtu.md), and 1500 bytes then get through.
    let o = live(&[
        "scenarios/aws-path-mtu.yaml",
        "--exec",
        "fixed",
        "--",
        "sh",
        "-c",
        "ip link show eth0; ping -M do -s 8972 -c 1 -W 1 203.0.113.5; \
         ip route get 203.0.113.5; ping -M do -s 1472 -c 1 -W 1 203.0.113.5",
    ]);
    let err = stderr(&o);
    let lines: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("fixed| "))
        .collect();
    assert!(lines.iter().any(|l| l.contains(" mtu 9001 ")), "{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cache expires") && l.trim_end().ends_with(" mtu 1500")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("1480 bytes from 203.0.113.5: icmp_seq=1")),
        "{err}"
    );
}
