//! Every shipped scenario passes its own expectations (what `vpclab test scenarios/` checks),
//! and each one has expectations: a scenario that asserts nothing teaches nothing.

use std::path::Path;

use vpclab_controlplane::{Options, load, run};

#[test]
fn every_shipped_scenario_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let mut l = match load(&name, &text, &Options::default()) {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!("{e}"));
                continue;
            }
        };
        assert!(!l.expectations.is_empty(), "{name} has no expectations");
        assert!(
            l.description.as_deref().is_some_and(|d| d.len() > 40),
            "{name} needs a description a learner can follow"
        );
        let r = run(&mut l).unwrap();
        for x in r.check(&l) {
            failures.push(format!("{name}:{}: {}", x.line, x.message));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
