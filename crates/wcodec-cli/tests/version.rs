//! `--version` of every binary: the release version from the workspace's Cargo.toml (read here
//! as a file, so a crate that stops inheriting it is caught) and the format versions.

use std::process::Command;

use wcodec::format::{VERSION, VERSION_FLAT, VERSION_TILES};

const BINARIES: [(&str, &str); 4] = [
    ("wcodec", env!("CARGO_BIN_EXE_wcodec")),
    ("wcodec-encode", env!("CARGO_BIN_EXE_wcodec-encode")),
    ("wcodec-decode", env!("CARGO_BIN_EXE_wcodec-decode")),
    ("wcodec-verify", env!("CARGO_BIN_EXE_wcodec-verify")),
];

/// `version = "…"` of `[workspace.package]` in the workspace's Cargo.toml.
fn workspace_version() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let text = std::fs::read_to_string(path).expect("workspace Cargo.toml");
    let section = text
        .split("\n[")
        .find(|s| s.starts_with("workspace.package]"))
        .expect("[workspace.package] section");
    let line = section
        .lines()
        .find(|l| l.trim_start().starts_with("version"))
        .expect("version line");
    let value = line.split('"').nth(1).expect("quoted version");
    value.to_owned()
}

fn version_output(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().expect("binary runs");
    assert!(out.status.success(), "{bin} {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

#[test]
fn version_is_the_workspace_version_with_the_format_versions() {
    let version = workspace_version();
    let format_line = format!(
        "format versions: reads {VERSION_FLAT} to {VERSION}; \
         writes {VERSION_FLAT} (all planes flat) or {VERSION_TILES} (tiled planes)"
    );
    for (name, bin) in BINARIES {
        for flag in ["--version", "-V"] {
            let text = version_output(bin, &[flag]);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(
                lines,
                [format!("{name} {version}"), format_line.clone()],
                "{name} {flag}"
            );
        }
    }
}

#[test]
fn subcommands_print_the_same_version() {
    let version = workspace_version();
    for sub in ["encode", "decode", "verify", "inspect", "bench"] {
        let text = version_output(BINARIES[0].1, &[sub, "--version"]);
        let first = text.lines().next().expect("a line");
        assert_eq!(
            first,
            format!("wcodec-{sub} {version}"),
            "wcodec {sub} --version"
        );
        assert!(
            text.contains(&format!("reads {VERSION_FLAT} to {VERSION}")),
            "{text}"
        );
    }
}
