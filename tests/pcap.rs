//! `--pcapng` and `--pcap` write captures that tshark and tcpdump read, with the same packets
//! as the records count and every checksum correct. Needs tshark and tcpdump (`.ci/run`
//! installs them); set VPCLAB_SKIP_TSHARK=1 to skip on a machine without them.

use std::path::Path;
use std::process::Command;

fn tshark_available() -> bool {
    if std::env::var_os("VPCLAB_SKIP_TSHARK").is_some() {
        return false;
    }
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => panic!(
            "tshark is needed by this test: apt-get install tshark (or set VPCLAB_SKIP_TSHARK=1)"
        ),
    }
}

/// tshark's options that verify the IPv4, TCP and UDP checksums.
const CHECK_CHECKSUMS: [&str; 6] = [
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "tcp.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
];

/// tshark reading `pcap` with `args`.
fn tshark(pcap: &Path, args: &[&str]) -> std::process::Output {
    Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

/// A shipped scenario's file.
fn shipped(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// Runs a scenario with `--format json` and `flag` (`--pcap` or `--pcapng`) and returns
/// (packets counted by records, frames tshark read, tshark's verbose dump).
fn capture(scenario: &Path, name: &str, flag: &str) -> (u64, u64, String) {
    let (packets, pcap, _) = run(scenario, name, flag);
    let t = tshark(&pcap, &["-T", "fields", "-e", "frame.number"]);
    assert!(
        t.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    // tshark warns when run as root; anything else it says is a problem with the file.
    let complaints = String::from_utf8_lossy(&t.stderr).replace(
        "Running as user \"root\" and group \"root\". This could be dangerous.",
        "",
    );
    assert!(
        complaints.trim().is_empty(),
        "tshark complained: {complaints}"
    );
    let frames = String::from_utf8_lossy(&t.stdout).lines().count() as u64;
    let v = tshark(&pcap, &[&["-V"][..], &CHECK_CHECKSUMS].concat());
    (
        packets,
        frames,
        String::from_utf8_lossy(&v.stdout).into_owned(),
    )
}

/// Runs a scenario with `--format json` and `flag FILE`: the packets its records count, the
/// capture file, and what vpclab said on stderr.
fn run(scenario: &Path, name: &str, flag: &str) -> (u64, std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("vpclab-pcap-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join(format!("out.{}", flag.trim_start_matches('-')));
    let o = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--format",
            "json",
            flag,
            pcap.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let packets: u64 = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v["packets"].as_u64())
        .sum();
    (
        packets,
        pcap,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The scenario of `tests/determinism.rs` (TCP, UDP and ICMP, accepted and rejected), as a
/// file.
fn mixed_scenario() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("tests/determinism.rs")).unwrap();
    let yaml = text
        .split("r#\"")
        .nth(1)
        .unwrap()
        .split("\"#")
        .next()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("vpclab-pcap-src-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mixed.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

#[test]
fn tshark_reads_the_ping_capture() {
    if !tshark_available() {
        return;
    }
    let (packets, frames, dump) = capture(&shipped("ping-acl-asymmetry.yaml"), "ping", "--pcapng");
    // 4 requests in at the ENI, 4 replies out of it (rejected there by the ACL).
    assert_eq!((packets, frames), (8, 8));
    assert_eq!(dump.matches("Echo (ping) request").count(), 4, "{dump}");
    assert_eq!(dump.matches("Echo (ping) reply").count(), 4, "{dump}");
    assert!(
        !dump.contains("[incorrect") && !dump.contains("Bad checksum"),
        "{dump}"
    );
    assert!(
        dump.contains("eni-lq6mkcis/ingress") && dump.contains("eni-lq6mkcis/egress"),
        "interfaces are named after capture points"
    );
}

#[test]
fn tshark_counts_what_the_records_count() {
    if !tshark_available() {
        return;
    }
    let (packets, frames, dump) = capture(&mixed_scenario(), "mixed", "--pcapng");
    assert!(packets > 30, "TCP, UDP and ICMP traffic: {packets}");
    assert_eq!(packets, frames);
    for proto in [
        "Transmission Control Protocol",
        "User Datagram Protocol",
        "Internet Control Message Protocol",
    ] {
        assert!(dump.contains(proto), "{proto} missing");
    }
    assert!(
        !dump.contains("[incorrect") && !dump.contains("Bad checksum"),
        "a checksum is wrong"
    );
}

/// The classic file is for libpcap's tools, which read one link type per file: tcpdump reads
/// every packet, each behind the Ethernet address of its capture point, as the legend says.
#[test]
fn tcpdump_reads_every_packet_of_the_classic_capture() {
    if !tshark_available() {
        return;
    }
    for (name, scenario) in [
        ("classic-ping", shipped("ping-acl-asymmetry.yaml")),
        ("classic-mixed", mixed_scenario()),
    ] {
        let (packets, pcap, said) = run(&scenario, name, "--pcap");
        let t = Command::new("tcpdump")
            .args(["-r", pcap.to_str().unwrap(), "-nn", "-e"])
            .output()
            .expect("tcpdump is needed by this test: apt-get install tcpdump");
        let err = String::from_utf8_lossy(&t.stderr);
        assert!(t.status.success(), "tcpdump: {err}");
        assert!(!err.contains("truncated"), "tcpdump: {err}");
        let lines: Vec<String> = String::from_utf8_lossy(&t.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert!(packets > 0);
        assert_eq!(lines.len() as u64, packets, "{name}: {lines:#?}");
        assert!(
            said.contains(&format!(
                "{packets} packets; capture points by Ethernet source address"
            )),
            "{said}"
        );
        // Every frame comes from a capture point the legend names.
        for l in &lines {
            let mac = l.split_whitespace().nth(1).unwrap();
            assert!(
                said.contains(&format!("  {mac} eni-")),
                "{name}: {mac} is not in the legend: {said}"
            );
            assert!(l.contains("ethertype IPv4"), "{l}");
        }
    }
    // The ping: four requests in at the ENI's ingress, four replies out of its egress.
    let (_, pcap, said) = run(
        &shipped("ping-acl-asymmetry.yaml"),
        "classic-ping-2",
        "--pcap",
    );
    assert!(said.contains("02:76:70:00:00:01 eni-") && said.contains("02:76:70:00:00:02 eni-"));
    let t = Command::new("tcpdump")
        .args(["-r", pcap.to_str().unwrap(), "-nn", "-e", "icmp"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&t.stdout);
    assert_eq!(out.matches("ICMP echo request").count(), 4, "{out}");
    assert_eq!(out.matches("ICMP echo reply").count(), 4, "{out}");
}

/// Fields tshark reads from every frame of `pcap`, one tab-separated line a frame.
fn fields(pcap: &Path, filter: &str, names: &[&str]) -> Vec<String> {
    let mut args = vec!["-T", "fields"];
    if !filter.is_empty() {
        args.extend(["-Y", filter]);
    }
    for n in names {
        args.extend(["-e", n]);
    }
    let t = tshark(pcap, &args);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    String::from_utf8_lossy(&t.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// aws-tcp-flags scripts two connections segment by segment, with no segment sent twice:
/// Wireshark finds them in sequence (no retransmission, no segment acknowledged unseen), TCP
/// with DF set, and each host numbering its datagrams one after the other. (Pure ACKs in a
/// row are the script's, and Wireshark notes them as duplicate ACKs.)
#[test]
fn scripted_segments_read_as_clean_streams() {
    if !tshark_available() {
        return;
    }
    let (packets, pcap, _) = run(&shipped("aws-tcp-flags.yaml"), "flags", "--pcap");
    assert!(packets > 17_000, "{packets}");
    for flagged in [
        "tcp.analysis.retransmission",
        "tcp.analysis.ack_lost_segment",
        "tcp.analysis.lost_segment",
        "tcp.analysis.out_of_order",
    ] {
        let hits = fields(&pcap, flagged, &["frame.number"]);
        assert!(hits.is_empty(), "{flagged}: {} frames", hits.len());
    }
    let rows = fields(
        &pcap,
        "",
        &[
            "ip.src",
            "ip.id",
            "ip.flags.df",
            "tcp.seq_raw",
            "tcp.ack_raw",
        ],
    );
    assert_eq!(rows.len() as u64, packets);
    // Every frame is captured once (a single capture point): per source, ids count up by one.
    let mut last: std::collections::BTreeMap<String, u16> = Default::default();
    let mut seqs = std::collections::BTreeSet::new();
    for r in &rows {
        let f: Vec<&str> = r.split('\t').collect();
        assert_eq!(f[2], "1", "TCP goes with DF: {r}");
        let id = u16::from_str_radix(f[1].trim_start_matches("0x"), 16).unwrap();
        if let Some(prev) = last.insert(f[0].to_string(), id) {
            assert_eq!(id, prev.wrapping_add(1), "ids count up per host: {r}");
        }
        seqs.insert(f[3].to_string());
    }
    assert_eq!(last.len(), 2, "two hosts: {last:?}");
    assert!(
        seqs.len() > 10_000,
        "segments carry their own sequence numbers"
    );
}

/// aws-path-mtu: tshark reads each fragmentation-needed (ICMP type 3 code 4) with the next
/// hop's MTU in `icmp.mtu` (RFC 1191): 1500 from the internet gateway and the VPN, 8500 from
/// the peering connection and the transit gateway. Each quotes the datagram that did not fit,
/// as it was sent (its IP id, addresses, ports): 9001 bytes (the ping: 1501) with DF set, its
/// header checksum correct. Every checksum is correct, and every 9001-byte TCP segment
/// carries DF.
#[test]
fn tshark_reads_path_mtu_discovery() {
    if !tshark_available() {
        return;
    }
    let (packets, pcap, _) = run(&shipped("aws-path-mtu.yaml"), "path-mtu", "--pcap");
    let checked = |filter: &str, names: &[&str]| -> Vec<String> {
        let mut args = CHECK_CHECKSUMS.to_vec();
        args.extend(["-T", "fields", "-Y", filter]);
        for n in names {
            args.extend(["-e", n]);
        }
        let t = tshark(&pcap, &args);
        assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
        String::from_utf8_lossy(&t.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    // A frame for each packet the interfaces' records count; the transit gateway's own
    // records count again the 3 datagrams it dropped (captured at its attachment's interface).
    assert_eq!(
        (fields(&pcap, "", &["frame.number"]).len() as u64, packets),
        (44, 47)
    );
    // Outer header, then the quoted one (tshark lists both, comma-separated); checksum status
    // 1 is good (2: the quoted echo's, not verifiable in 8 bytes).
    let errors = checked(
        "icmp.type == 3 && icmp.code == 4",
        &[
            "ip.src",
            "ip.dst",
            "icmp.mtu",
            "ip.len",
            "ip.flags.df",
            "ip.checksum.status",
            "icmp.checksum.status",
            "ip.proto",
            "tcp.srcport",
            "tcp.dstport",
            "icmp.type",
            "icmp.ident",
        ],
    );
    // `from` answers `to` about a datagram `to` sent to `dest`.
    let row = |from: &str, to: &str, dest: &str, mtu: u16, len: u16, icmp: &str, l4: &str| {
        format!("{from},{to}\t{to},{dest}\t{mtu}\t56,{len}\t0,1\t1,1\t{icmp}\t{l4}")
    };
    let tcp = |sport: u16, dport: u16| format!("1,6\t{sport}\t{dport}\t3\t");
    // A quoted echo request: its type (8) and identifier, as the sender sent it.
    let echo = |ident: u16| format!("1,1\t\t\t3,8\t{ident}");
    let (site, dr, tgw, dc) = ("203.0.113.5", "10.9.1.30", "10.0.1.5", "172.16.0.20");
    let (web, fixed, shared) = ("10.0.1.10", "10.0.1.20", "10.20.1.40");
    let (nat, inner) = ("10.0.1.220", "10.0.2.30");
    let want = vec![
        // Case 1: web's segment at the internet gateway, from the host's address.
        row(site, web, site, 1500, 9001, "1", &tcp(40000, 443)),
        // Case 2: fixed's.
        row(site, fixed, site, 1500, 9001, "1", &tcp(41000, 443)),
        // Case 3: the 1501-byte echo with DF.
        row(site, fixed, site, 1500, 1501, "1,2", &echo(9)),
        // Case 6: the peering connection between regions, from dr-host's address.
        row(dr, fixed, dr, 8500, 9001, "1", &tcp(44000, 5432)),
        // Case 7: the transit gateway, from its interface in app, captured twice: out of that
        // interface and into the instance.
        row(tgw, web, shared, 8500, 9001, "1", &tcp(45000, 5432)),
        row(tgw, web, shared, 8500, 9001, "1", &tcp(45000, 5432)),
        row(tgw, fixed, shared, 8500, 9001, "1", &tcp(46000, 5432)),
        row(tgw, fixed, shared, 8500, 9001, "1", &tcp(46000, 5432)),
        // Case 8: the virtual private gateway, from the data centre's address.
        row(dc, fixed, dc, 1500, 9001, "1", &tcp(47000, 443)),
        // Case 10: inner's echo after the NAT gateway, which gave it identifier 37933: the
        // error comes to the gateway's interface, which sends it on to inner with the
        // address and identifier of the quote translated back (out of the gateway's interface,
        // into inner's).
        row(site, nat, site, 1500, 2000, "1,2", &echo(37933)),
        row(site, inner, site, 1500, 2000, "1,2", &echo(22)),
        row(site, inner, site, 1500, 2000, "1,2", &echo(22)),
    ];
    assert_eq!(errors, want);
    // Each quotes a datagram its sender sent: the same IP id, length and flags as a frame that
    // left an instance.
    let sent = checked(
        "!icmp.type == 3 && (ip.len == 9001 || ip.len == 1501 || ip.len == 2000)",
        &["ip.src", "ip.id", "ip.len", "ip.flags.df"],
    );
    let quoted = checked(
        "icmp.type == 3 && icmp.code == 4",
        &["ip.src", "ip.id", "ip.len", "ip.flags.df"],
    );
    assert_eq!(quoted.len(), want.len());
    for q in &quoted {
        let q: Vec<&str> = q.split('\t').collect();
        let inner: Vec<String> = q
            .iter()
            .map(|f| f.split(',').nth(1).unwrap().to_string())
            .collect();
        let inner = inner.join("\t");
        assert!(
            sent.contains(&inner),
            "{inner} quotes no frame sent: {sent:#?}"
        );
    }
    // Every 9001-byte TCP segment goes with DF (as Linux sends TCP), checksums correct.
    let segments = checked(
        "tcp && !icmp && ip.len == 9001",
        &["ip.flags.df", "ip.checksum.status", "tcp.checksum.status"],
    );
    assert_eq!(segments.len(), 8, "{segments:#?}");
    assert!(segments.iter().all(|s| s == "1\t1\t1"), "{segments:#?}");
    // No checksum anywhere is wrong.
    let bad = checked(
        "ip.checksum.status == 0 || icmp.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0",
        &["frame.number"],
    );
    assert!(bad.is_empty(), "bad checksums in frames {bad:?}");
}
