//! The `gateway` binary: env overrides, config errors, key and client generation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn gateway() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
    command.env_remove("PORTCULLIS_CONFIG");
    command
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/gateway.example.toml");

#[test]
fn env_overrides_apply_and_other_services_variables_are_ignored() {
    let output = gateway()
        .args(["--config", EXAMPLE, "check-config"])
        .env("PORTCULLIS_LISTEN", "0.0.0.0:9999")
        .env("PORTCULLIS_UPSTREAM_URL", "http://127.0.0.1:1")
        .env("PORTCULLIS_CLICKHOUSE_URL", "http://127.0.0.1:8123")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = gateway()
        .args(["--config", EXAMPLE, "check-config"])
        .env("PORTCULLIS_UPSTREAM_URL", "not a url")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("upstream.url"));
    let output = gateway()
        .args(["--config", EXAMPLE, "check-config"])
        .env("PORTCULLIS_LIMITS__MAX_BODY_BYTE", "5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("max_body_byte"));
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let output = gateway().args(["--config", "/nonexistent/gw.toml", "check-config"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not exist"));
}

#[test]
fn keys_new_prints_a_key_once_and_a_pasteable_hashed_entry() {
    let output = gateway().args(["keys", "new", "--project", "demo", "--label", "laptop"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let key = text.split_whitespace().find(|w| w.starts_with("pcl_")).unwrap();
    let entry = &text[text.find("[[keys]]").unwrap()..];
    assert!(!entry.contains(key), "the entry holds only the hash");
    let expected = portcullis_gateway::auth::keys::KeyHash::of(key).to_string();
    assert!(entry.contains(&expected));
    let config = format!("[[projects]]\nname = \"demo\"\ntenant = \"t\"\n{entry}");
    portcullis_gateway::config::load::from_toml_str(&config).unwrap();

    let output = gateway().args(["clients", "new", "--project", "demo", "--client-id", "bot"]).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("[[clients]]") && text.contains("client_id = \"bot\"") && text.contains("llm:invoke"));
}

#[test]
fn dashboard_credential_prints_a_credential_once_and_a_hashed_entry() {
    use portcullis_gateway::auth::keys::KeyHash;
    let output = gateway().args(["dashboard", "credential"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let credential = text.split_whitespace().find(|w| w.starts_with("pda_")).unwrap();
    let entry = &text[text.find("[dashboard]").unwrap()..];
    assert!(!entry.contains(credential), "the entry holds only the hash");
    let config = portcullis_gateway::config::load::from_toml_str(entry).unwrap();
    assert!(config.dashboard.enabled);
    assert!(config.dashboard.admin_hash().unwrap().matches(&KeyHash::of(credential)));

    // Enabled without a credential, or a bad ClickHouse URL (PORTCULLIS_CLICKHOUSE_URL
    // is the dashboard's too), is a config error naming the key.
    let output = gateway()
        .args(["--config", EXAMPLE, "check-config"])
        .env("PORTCULLIS_DASHBOARD__ENABLED", "true")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("dashboard.admin_credential_hash"));
    let output = gateway()
        .args(["--config", EXAMPLE, "check-config"])
        .env("PORTCULLIS_CLICKHOUSE_URL", "not a url")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("dashboard.clickhouse_url"));
}
