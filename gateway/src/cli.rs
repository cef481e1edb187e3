//! Command line: `gateway [--config FILE] [serve|check-config|keys new|clients new|dashboard credential]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::auth::keys::{self, KeyHash};

#[derive(Debug, Parser)]
#[command(name = "gateway", version, about = "Portcullis: a security gateway for the Anthropic API")]
pub struct Cli {
    /// TOML config file; every setting can be overridden with PORTCULLIS_* env vars.
    #[arg(long, short, env = "PORTCULLIS_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Validate the config and exit.
    CheckConfig,
    /// Gateway keys for the tenant-key header mode.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// OAuth clients for the JWT mode.
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// The admin dashboard.
    Dashboard {
        #[command(subcommand)]
        action: DashboardAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum DashboardAction {
    /// Print a fresh admin credential once, with the config entry to paste.
    Credential,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Print a fresh gateway key once, with the config entry to paste.
    New {
        #[arg(long)]
        project: String,
        #[arg(long)]
        label: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsAction {
    /// Print a fresh client secret once, with the config entry to paste.
    New {
        #[arg(long)]
        project: String,
        #[arg(long)]
        client_id: String,
        #[arg(long, value_delimiter = ',', default_value = "llm:invoke")]
        scopes: Vec<String>,
    },
}

fn toml_string(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

/// The text `gateway keys new` prints: the key once, and the entry holding only its hash.
pub fn new_key_text(project: &str, label: Option<&str>) -> String {
    let key = keys::generate("pcl_");
    let hash = KeyHash::of(&key);
    let label_line = label.map(|l| format!("label = {}\n", toml_string(l))).unwrap_or_default();
    format!(
        "Gateway key (shown once, store it now):\n\n  {key}\n\nAdd to the gateway config:\n\n[[keys]]\nproject = {}\nhash = \"{hash}\"\n{label_line}",
        toml_string(project)
    )
}

pub fn new_client_text(project: &str, client_id: &str, scopes: &[String]) -> String {
    let secret = keys::generate("pcs_");
    let hash = KeyHash::of(&secret);
    let scopes: Vec<String> = scopes.iter().map(|s| toml_string(s)).collect();
    format!(
        "Client secret for {client_id} (shown once, store it now):\n\n  {secret}\n\nAdd to the gateway config:\n\n[[clients]]\nclient_id = {}\nproject = {}\nsecret_hash = \"{hash}\"\nscopes = [{}]\n",
        toml_string(client_id),
        toml_string(project),
        scopes.join(", ")
    )
}

/// The text `gateway dashboard credential` prints: the credential once, and the
/// `[dashboard]` entry holding only its hash.
pub fn new_dashboard_credential_text() -> String {
    let credential = keys::generate("pda_");
    let hash = KeyHash::of(&credential);
    format!(
        "Dashboard admin credential (shown once, store it now):\n\n  {credential}\n\nAdd to the gateway config:\n\n[dashboard]\nenabled = true\nadmin_credential_hash = \"{hash}\"\n"
    )
}
