//! `vpclab bench generate` (issue 9, item 7) as the built binary runs it: a quarter of the
//! teaching hour prints the four figures the issue asks for as positive numbers, leaves no
//! temporary directory behind, and bad arguments exit 2.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::temp_dir;

const HOUR: &str = "scenarios/workloads/teaching-hour.yaml";

/// Runs the binary with `TMPDIR` set to `tmp` (where the benchmark writes its files).
fn vpclab(args: &[&str], tmp: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env("TMPDIR", tmp)
        .output()
        .expect("vpclab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_slice_of_the_teaching_hour_prints_the_four_figures() {
    let tmp = temp_dir("bench-generate");
    let (code, out, err) = vpclab(
        &["bench", "generate", "--file", HOUR, "--hours", "0.25"],
        &tmp,
    );
    assert_eq!(code, 0, "bench generate failed: {err}");
    let values: BTreeMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
    for key in [
        "virtual_seconds_per_wall_second",
        "records_per_second",
        "equivalent_packets_per_second",
        "peak_rss_mb",
    ] {
        let v = values
            .get(key)
            .unwrap_or_else(|| panic!("no {key}= in:\n{out}"));
        let n: f64 = v
            .parse()
            .unwrap_or_else(|_| panic!("{key}={v} is not a number"));
        assert!(n > 0.0, "{key}={v} is not positive");
    }
    // A quarter of an hour, the slice asked for; packets and records were made.
    assert_eq!(values["virtual_seconds"], "900", "{out}");
    for key in ["records", "packets", "events"] {
        let n: u64 = values[key].parse().unwrap();
        assert!(n > 0, "{key}={n}\n{out}");
    }
    // The delivered files were written under TMPDIR and removed.
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "left in {}: {left:?}", tmp.display());
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn bad_arguments_exit_2() {
    let tmp = std::env::temp_dir();
    let (code, _, err) = vpclab(&["bench", "generate", "--file", HOUR, "--hours", "0"], &tmp);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--hours"), "{err}");
    let (code, _, err) = vpclab(&["bench", "generate", "--file", "no-such.yaml"], &tmp);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-such.yaml"), "{err}");
    let (code, _, err) = vpclab(
        &["bench", "generate", "--file", HOUR, "--provider", "gcp"],
        &tmp,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--provider"), "{err}");
}
