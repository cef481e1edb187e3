//! The venv made by scripts/install-deps.sh holds the pinned SDK.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_support::python::{sdk_python, sdk_smoke_script, workspace_root};

#[test]
fn workspace_root_holds_the_workspace_manifest() {
    assert!(workspace_root().join("Cargo.toml").is_file());
    assert!(sdk_smoke_script().is_file());
}

#[test]
fn venv_has_the_pinned_anthropic_sdk() {
    let python = sdk_python().unwrap();
    let requirements = std::fs::read_to_string(workspace_root().join("scripts/python/requirements.txt")).unwrap();
    let pinned = requirements
        .lines()
        .find_map(|line| line.trim().strip_prefix("anthropic=="))
        .expect("anthropic pin in requirements.txt");
    let output = std::process::Command::new(python)
        .args(["-c", "import anthropic; print(anthropic.__version__)"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), pinned.trim());
}
