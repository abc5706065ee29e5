//! Scenario files varied in one place, for the tests that load them in the process.
#![allow(dead_code)]

use vpclab_controlplane::{Options, ScenarioError, load};

/// `base` with its first `from` replaced by `to`; `from` must be there.
pub fn replaced(base: &str, from: &str, to: &str) -> String {
    assert!(
        base.contains(from),
        "the base scenario must contain {from:?}"
    );
    base.replacen(from, to, 1)
}

/// The error of a scenario that must not load.
pub fn error(text: &str) -> ScenarioError {
    match load("s.yaml", text, &Options::default()) {
        Ok(_) => panic!("the scenario should not load"),
        Err(e) => e,
    }
}

/// The error of a scenario that must not load, which names `field` and says `message`.
#[track_caller]
pub fn refused(text: &str, field: &str, message: &str) -> ScenarioError {
    let e = error(text);
    assert_eq!(
        (e.field.as_str(), e.message.as_str()),
        (field, message),
        "{e}"
    );
    e
}

/// The 1-based number of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> u64 {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle present") as u64
        + 1
}
