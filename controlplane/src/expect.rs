//! Expectations on the records a scenario prints, and the report when they fail.
//!
//! A record is matched on the fields of the printed line, named as the output format names
//! them (`srcaddr`, `action`, `log-status`, …; `direction` for alibaba), so a scenario asserts
//! exactly what a user sees. The pseudo-field `decision` matches a substring of any of the
//! record's ground-truth decisions ("ACL web-acl egress").

use std::collections::BTreeMap;

use serde_saphyr::Spanned;
use vpclab_sim::flowlog::Record;
use vpclab_sim::flowlog::format::{Format, TencentStyle};

use crate::doc;

/// One assertion of a scenario's `expect:` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// Records with these fields exist (`count`: exactly that many).
    Record {
        fields: BTreeMap<String, String>,
        count: Option<usize>,
        line: u64,
    },
    /// No record has these fields.
    NoRecord {
        fields: BTreeMap<String, String>,
        line: u64,
    },
    /// Exactly this many records are printed.
    Records { count: usize, line: u64 },
    /// This exact line is printed.
    Line { text: String, line: u64 },
}

impl Expectation {
    pub fn from_doc(d: &Spanned<doc::ExpectDoc>) -> Result<Expectation, String> {
        let line = d.referenced.line();
        let v = &d.value;
        let fields = |m: &BTreeMap<String, doc::ScalarDoc>| {
            m.iter().map(|(k, v)| (k.clone(), v.text())).collect()
        };
        match (&v.record, &v.no_record, v.records, &v.line) {
            (Some(r), None, None, None) => Ok(Expectation::Record { fields: fields(r), count: v.count, line }),
            (None, Some(r), None, None) if v.count.is_none() => Ok(Expectation::NoRecord { fields: fields(r), line }),
            (None, None, Some(n), None) if v.count.is_none() => Ok(Expectation::Records { count: n, line }),
            (None, None, None, Some(t)) if v.count.is_none() => Ok(Expectation::Line { text: t.clone(), line }),
            _ => Err("each expectation is one of `record` (with an optional `count`), `no_record`, `records` or `line`".into()),
        }
    }
}

/// A printed record: its line, its fields by name, and its ground truth.
#[derive(Clone, Debug)]
pub struct Printed {
    pub line: String,
    pub fields: Vec<(String, String)>,
    pub decisions: Vec<String>,
}

impl Printed {
    /// A record as `format` prints it: a router record in the router counterpart of an ENI
    /// format and the reverse ([`Format::for_record`]), its fields named by the format used.
    pub fn new(record: &Record, format: &Format) -> Printed {
        let format = format.for_record(record);
        let line = format.render(record);
        // A CCN's record has positional fields of its own (tencent-positional).
        let fields = match format.ccn_positional_fields(record) {
            Some(names) => names
                .iter()
                .zip(line.split(' '))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            None => fields_of(&line, &format),
        };
        Printed {
            line,
            fields,
            decisions: record.truth.decisions.clone(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn matches(&self, want: &BTreeMap<String, String>) -> bool {
        want.iter().all(|(k, v)| self.field_matches(k, v))
    }

    fn field_matches(&self, k: &str, v: &str) -> bool {
        if k == "decision" {
            self.decisions.iter().any(|d| d.contains(v))
        } else {
            self.get(k) == Some(v)
        }
    }
}

/// Names each value of a printed line as its format does.
pub fn fields_of(line: &str, format: &Format) -> Vec<(String, String)> {
    if let Some(names) = format.positional_fields() {
        return names
            .iter()
            .zip(line.split(' '))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
    }
    match format {
        Format::Tencent(TencentStyle::KeyValue) => line
            .split(' ')
            .filter_map(|kv| kv.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        _ => {
            let mut out = Vec::new();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                flatten("", &v, &mut out);
            }
            out
        }
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        serde_json::Value::Null => out.push((prefix.to_string(), "-".into())),
        serde_json::Value::Array(_) => {}
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// A failed expectation, with what was expected and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Line of the expectation in the scenario file.
    pub line: u64,
    pub message: String,
}

fn show(fields: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Checks every expectation against the printed records.
pub fn check(expectations: &[Expectation], printed: &[Printed]) -> Vec<Failure> {
    let mut failures = Vec::new();
    for e in expectations {
        match e {
            Expectation::Record {
                fields,
                count,
                line,
            } => {
                let n = printed.iter().filter(|p| p.matches(fields)).count();
                let ok = match count {
                    Some(c) => n == *c,
                    None => n >= 1,
                };
                if !ok {
                    let want = match count {
                        Some(c) => format!("{c} record(s)"),
                        None => "a record".into(),
                    };
                    let mut message =
                        format!("expected {want} matching {}; found {n}", show(fields));
                    if n == 0 {
                        message.push_str(&closest(fields, printed));
                    }
                    failures.push(Failure {
                        line: *line,
                        message,
                    });
                }
            }
            Expectation::NoRecord { fields, line } => {
                let hits: Vec<&Printed> = printed.iter().filter(|p| p.matches(fields)).collect();
                if !hits.is_empty() {
                    let mut message = format!(
                        "expected no record matching {}; found {}:",
                        show(fields),
                        hits.len()
                    );
                    for h in hits {
                        message.push_str(&format!("\n      {}", h.line));
                    }
                    failures.push(Failure {
                        line: *line,
                        message,
                    });
                }
            }
            Expectation::Records { count, line } => {
                if printed.len() != *count {
                    let mut message =
                        format!("expected {count} records; printed {}:", printed.len());
                    for p in printed {
                        message.push_str(&format!("\n      {}", p.line));
                    }
                    failures.push(Failure {
                        line: *line,
                        message,
                    });
                }
            }
            Expectation::Line { text, line } => {
                if !printed.iter().any(|p| p.line == *text) {
                    let mut message = format!("expected the line\n      {text}\n    printed:");
                    for p in printed {
                        message.push_str(&format!("\n      {}", p.line));
                    }
                    failures.push(Failure {
                        line: *line,
                        message,
                    });
                }
            }
        }
    }
    failures
}

/// The printed records that share the most fields with the expectation, with the differing
/// fields marked: the diff a tester needs.
fn closest(want: &BTreeMap<String, String>, printed: &[Printed]) -> String {
    let score = |p: &Printed| want.iter().filter(|(k, v)| p.field_matches(k, v)).count();
    let best = printed.iter().map(score).max().unwrap_or(0);
    let mut out = String::new();
    if printed.is_empty() {
        out.push_str("\n    no records were printed");
        return out;
    }
    for p in printed.iter().filter(|p| score(p) == best).take(3) {
        out.push_str(&format!("\n    closest: {}", p.line));
        for (k, v) in want {
            if !p.field_matches(k, v) {
                let got = if k == "decision" {
                    p.decisions.join(" | ")
                } else {
                    p.get(k).unwrap_or("(no such field)").to_string()
                };
                out.push_str(&format!("\n      {k}: expected {v}, got {got}"));
            }
        }
    }
    out
}
