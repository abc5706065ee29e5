//! The repository's documents hold together: every relative link in a `*.md` file leads to a
//! file or directory of the repository, every citation of a section (`docs/reference/policy.md
//! §1.3`, `flowlogs.md §1.2–1.7`, `reference/policy.md` §2) names a section that
//! `docs/reference/` has, and every decision cited (`D7`, `D3–D19`) is one of
//! `docs/reference/decisions.md`. A clone must be readable on its own: the references used to
//! live outside the repository, where a clone's links did not resolve.
//!
//! Both tests fail with the list of what is broken, one `path:line: what` per line.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Parser, Tag};
use regex::Regex;

/// The files whose citations are checked, by extension.
const CITING: &[&str] = &["md", "rs", "yaml", "yml", "proto", "py"];

/// The repository's files with one of `exts`, sorted; build output, virtual environments and
/// hidden directories (`.git`, `.venv`) are not the repository's text.
fn files(root: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    dirs.push(path);
                }
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `path` relative to `root`, with `/` separators, for messages.
fn shown(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.to_string_lossy().replace('\\', "/")
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Every relative link (and image) of every `*.md` under `root` whose target does not exist.
/// Links with a scheme (`https:`, `mailto:`) and in-page anchors (`#x`) are not files; a
/// link's own anchor (`file.md#x`) is dropped before the file is looked for.
fn broken_links(root: &Path) -> Vec<String> {
    let mut broken = Vec::new();
    for path in files(root, &["md"]) {
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (event, range) in Parser::new(&text).into_offset_iter() {
            let dest = match event {
                Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => dest_url,
                _ => continue,
            };
            let target = dest.split(['#', '?']).next().unwrap_or("");
            let has_scheme = target
                .split_once(':')
                .is_some_and(|(s, _)| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()));
            if target.is_empty() || has_scheme {
                continue;
            }
            let resolved = match target.strip_prefix('/') {
                Some(from_root) => root.join(from_root),
                None => path.parent().expect("a file has a directory").join(target),
            };
            if !resolved.exists() {
                broken.push(format!(
                    "{}:{}: link to `{dest}`: no such file",
                    shown(root, &path),
                    line_of(&text, range.start)
                ));
            }
        }
    }
    broken
}

/// The section numbers of a reference document: its numbered headings (`## 1. AWS`,
/// `### 1.3 Statefulness`) give `1` and `1.3`.
fn sections(doc: &str) -> BTreeSet<String> {
    let heading = Regex::new(r"(?m)^#{1,6}[ \t]+([0-9]+(?:\.[0-9]+)*)\.?[ \t]").expect("regex");
    heading
        .captures_iter(doc)
        .map(|c| c[1].to_string())
        .collect()
}

/// The decision numbers of `decisions.md`: each is defined as `**D7.` at a list item.
fn decisions(doc: &str) -> BTreeSet<u32> {
    let def = Regex::new(r"(?m)^- \*\*D([0-9]+)\.").expect("regex");
    def.captures_iter(doc)
        .filter_map(|c| c[1].parse().ok())
        .collect()
}

/// Every citation under `root` that names a section of `docs/reference/policy.md` or
/// `flowlogs.md`, or a decision, that does not exist. A citation is the document's name (with
/// or without `docs/reference/`, in backticks or not) followed by one or more sections:
/// `policy.md §1.3, §3 and §4`, `flowlogs.md §1.2–1.7`, `policy.md §1–§3`; both ends of a range
/// must exist. A decision is `D` and a number (`D7`, either end of `D3–D19`).
fn broken_citations(root: &Path) -> Vec<String> {
    let reference = root.join("docs/reference");
    let read = |name: &str| {
        let p = reference.join(name);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let policy = sections(&read("policy.md"));
    let flowlogs = sections(&read("flowlogs.md"));
    let known_decisions = decisions(&read("decisions.md"));
    let number = r"[0-9]+(?:\.[0-9]+)*";
    // Blanks spelt out, and ASCII word boundaries: regex is built without its Unicode tables.
    let sp = r"[ \t\r\n]";
    let citation = Regex::new(&format!(
        "(?:docs/)?(?:reference/)?(policy|flowlogs|decisions)\\.md`?\
         ((?:(?:{sp}*,|{sp}+and)?{sp}*§{number}(?:{sp}*[–-]{sp}*§?{number})?)+)"
    ))
    .expect("regex");
    let section =
        Regex::new(&format!(r"§({number})(?:{sp}*[–-]{sp}*§?({number}))?")).expect("regex");
    let decision = Regex::new(r"(?-u:\b)D([0-9]+)(?-u:\b)").expect("regex");

    let mut broken = Vec::new();
    for path in files(root, CITING) {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let at = |offset| format!("{}:{}", shown(root, &path), line_of(&text, offset));
        for c in citation.captures_iter(&text) {
            let doc = &c[1];
            let known = match doc {
                "policy" => &policy,
                "flowlogs" => &flowlogs,
                _ => {
                    broken.push(format!(
                        "{}: `{}`: decisions.md has decisions (D1), not sections",
                        at(c.get(0).expect("match").start()),
                        &c[0]
                    ));
                    continue;
                }
            };
            let list = c.get(2).expect("the section list");
            for s in section.captures_iter(list.as_str()) {
                for n in [s.get(1), s.get(2)].into_iter().flatten() {
                    if !known.contains(n.as_str()) {
                        broken.push(format!(
                            "{}: `{}.md §{}`: no section {} in docs/reference/{}.md",
                            at(list.start() + n.start()),
                            doc,
                            n.as_str(),
                            n.as_str(),
                            doc
                        ));
                    }
                }
            }
        }
        for d in decision.captures_iter(&text) {
            let n: u32 = d[1].parse().unwrap_or(u32::MAX);
            if !known_decisions.contains(&n) {
                broken.push(format!(
                    "{}: `D{}`: no decision D{} in docs/reference/decisions.md",
                    at(d.get(0).expect("match").start()),
                    &d[1],
                    &d[1]
                ));
            }
        }
    }
    broken
}

/// Panics with the list, one per line, unless it is empty.
fn assert_none(what: &str, broken: Vec<String>) {
    assert!(
        broken.is_empty(),
        "{} {what}:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn every_relative_markdown_link_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_none("broken links", broken_links(root));
}

#[test]
fn every_cited_section_and_decision_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policy = fs::read_to_string(root.join("docs/reference/policy.md")).expect("policy.md");
    // The sections the code cites most, so that an empty or renumbered document cannot pass.
    let found = sections(&policy);
    for s in ["0.1", "1.3", "2", "3.2", "6.2", "7"] {
        assert!(found.contains(s), "policy.md has no §{s}: {found:?}");
    }
    let d = fs::read_to_string(root.join("docs/reference/decisions.md")).expect("decisions.md");
    assert_eq!(
        decisions(&d),
        (1..=20).collect(),
        "decisions.md must define D1 to D20"
    );
    assert_none("broken citations", broken_citations(root));
}

/// The checks find what is broken, and say where: a small repository with one of each mistake.
#[test]
fn the_checks_name_each_broken_link_and_citation() {
    let root = std::env::temp_dir().join(format!("vpclab-docs-links-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(root.join("docs/reference")).expect("temp dir");
    let write = |p: &str, s: &str| fs::write(root.join(p), s).expect("write");
    write(
        "docs/reference/policy.md",
        "# Policy\n\n## 1. AWS\n\n### 1.3 Tracking\n\n## 2. ACLs\n",
    );
    write(
        "docs/reference/flowlogs.md",
        "# Flow logs\n\n## 1. AWS\n\n### 1.7 Examples\n",
    );
    write(
        "docs/reference/decisions.md",
        "- **D1. One.**\n- **D2. Two.**\n",
    );
    write(
        "README.md",
        "See [policy](docs/reference/policy.md), [gone](docs/nothing.md#x), \
         [web](https://example.com/a.md) and [here](#top).\n\
         `[not a link](missing.md)`\n\n\
         Cited: `docs/reference/policy.md` §1.3, §2 and §9; flowlogs.md §1.2–1.7.\n",
    );
    // A decision this repository lacks, spelt so that this file does not cite it.
    let d21 = concat!("D", "21");
    write(
        "lib.rs",
        &format!(
            "// reference/policy.md §1.3 (D1, D2), policy.md §1–§4, {d21}.\n// decisions.md D2\n"
        ),
    );
    let links = broken_links(&root);
    let citations = broken_citations(&root);
    let _ = fs::remove_dir_all(&root);
    assert_eq!(
        links,
        ["README.md:1: link to `docs/nothing.md#x`: no such file"]
    );
    assert_eq!(
        citations,
        [
            "README.md:4: `policy.md §9`: no section 9 in docs/reference/policy.md",
            "README.md:4: `flowlogs.md §1.2`: no section 1.2 in docs/reference/flowlogs.md",
            "lib.rs:1: `policy.md §4`: no section 4 in docs/reference/policy.md",
            &format!("lib.rs:1: `{d21}`: no decision {d21} in docs/reference/decisions.md"),
        ]
    );
}

/// README's table of shipped scenarios names every file in `scenarios/` (and `workloads/`).
#[test]
fn readme_lists_every_shipped_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).expect("README.md");
    let scenarios = root.join("scenarios");
    let missing: Vec<String> = files(&scenarios, &["yaml"])
        .iter()
        .map(|p| shown(&scenarios, p))
        .filter(|name| {
            !readme.contains(&format!("| `{name}`")) && !readme.contains(&format!(", `{name}`"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's scenario table lacks {} file(s):\n{}",
        missing.len(),
        missing.join("\n")
    );
}
