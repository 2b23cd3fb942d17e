//! The reference pages stay inside the repository: every relative link and
//! every repository path in backticks in `README.md` and `docs/*.md` names a
//! file that exists, and no page points outside the crate or at history
//! (`../shared`, `/tmp/` paths, issue numbers, notes files).

use std::path::{Path, PathBuf};

/// Directories the docs name that only exist once a tool has run.
const GENERATED: &[&str] = &[
    "fuzz/work/",
    "fuzz/logs/",
    "fuzz/artifacts/",
    "fuzz/target/",
];

/// Top-level directories whose paths in backticks must exist.
const TRACKED: &[&str] = &[
    "abi/",
    "benches/",
    "compat/",
    "docs/",
    "examples/",
    "fuzz/",
    "src/",
    "tests/",
];

fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("readable docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// Targets of `[text](target)` links, without `#anchor`; web links skipped.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].trim();
        let web = ["http://", "https://", "mailto:"]
            .iter()
            .any(|p| target.starts_with(p));
        let path = target.split('#').next().unwrap_or("");
        if !web && !path.is_empty() {
            out.push(path.to_owned());
        }
        rest = &rest[end..];
    }
    out
}

/// Repository paths in backticks (`tests/aio.rs`), placeholders and globs skipped.
fn backticked_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| TRACKED.iter().any(|d| s.starts_with(d)))
        .filter(|s| !s.contains(|c: char| c.is_whitespace() || "<>*{}$".contains(c)))
        .filter(|s| !GENERATED.iter().any(|g| s.starts_with(g)))
        .map(str::to_owned)
        .collect()
}

/// Text a reference page must not contain, with the reason.
fn banned(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    // `/tmp/` as a path of its own, not inside `target/tmp/`.
    let fixed_tmp = text.match_indices("/tmp/").any(|(i, _)| {
        !text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
    });
    if fixed_tmp {
        found.push("`/tmp/`: a fixed /tmp path".to_owned());
    }
    for (needle, why) in [
        ("../shared", "points outside the repository"),
        ("NOTES-", "a notes file that is not in the repository"),
        ("for the lead", "a note to a person, not a reference"),
        ("left alone", "history, not a reference: state the limit"),
    ] {
        if text.contains(needle) {
            found.push(format!("`{needle}`: {why}"));
        }
    }
    let lower = text.to_lowercase();
    for (i, _) in lower.match_indices("issue ") {
        let after = lower[i + 6..].trim_start_matches('#');
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            found.push(format!(
                "`{}`: an issue number",
                &text[i..(i + 9).min(text.len())]
            ));
        }
    }
    found
}

/// Every problem of one page, as "page: problem" lines.
fn check_page(root: &Path, page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).expect("readable page");
    let name = page
        .strip_prefix(root)
        .unwrap_or(page)
        .display()
        .to_string();
    let dir = page.parent().expect("a page is in a directory");
    let mut problems = Vec::new();
    for target in link_targets(&text) {
        if !dir.join(&target).exists() {
            problems.push(format!("{name}: link to `{target}`, which does not exist"));
        }
    }
    for path in backticked_paths(&text) {
        if !root.join(&path).exists() {
            problems.push(format!("{name}: names `{path}`, which does not exist"));
        }
    }
    problems.extend(banned(&text).into_iter().map(|b| format!("{name}: {b}")));
    problems
}

#[test]
fn every_link_and_path_in_the_docs_exists_and_stays_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = pages(root);
    assert!(pages.len() > 2, "no docs found under {}", root.display());
    let problems: Vec<String> = pages.iter().flat_map(|p| check_page(root, p)).collect();
    assert!(
        problems.is_empty(),
        "docs problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_docs_index_lists_every_page_and_the_readme_links_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let index = std::fs::read_to_string(root.join("docs/README.md")).expect("docs/README.md");
    let listed = link_targets(&index);
    for page in pages(root).iter().skip(1) {
        let file = page.file_name().unwrap().to_string_lossy().into_owned();
        if file != "README.md" {
            assert!(
                listed.contains(&file),
                "docs/README.md does not list {file}"
            );
        }
    }
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    assert!(
        link_targets(&readme).iter().any(|t| t == "docs/README.md"),
        "README.md does not link docs/README.md"
    );
}

#[test]
fn the_checks_catch_a_bad_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("syslets-docs-links-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("bad.md");
    std::fs::write(
        &page,
        "See [the design](no-such-page.md), `examples/no_such_example.rs`, \
         `../shared/DESIGN.md`, `/tmp/x/loop.c`, NOTES-aio.md and issue #6.\n\
         Fine: [web](https://man7.org/x), [anchor](#top), `fuzz/work/x`.\n",
    )
    .unwrap();
    let problems = check_page(root, &page);
    std::fs::remove_dir_all(&dir).unwrap();
    let expect = [
        "no-such-page.md",
        "examples/no_such_example.rs",
        "../shared",
        "/tmp/",
        "NOTES-",
        "issue number",
    ];
    for e in expect {
        assert!(
            problems.iter().any(|p| p.contains(e)),
            "{e} not caught: {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expect.len(), "{problems:#?}");
}
