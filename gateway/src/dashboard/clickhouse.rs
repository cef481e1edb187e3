//! Read-only ClickHouse access over HTTP, and the one way user text enters SQL.
//!
//! ClickHouse 18.16 has no server-side query parameters (`param_*`), so values are
//! inlined as literals. Every value from a request goes through [`quote`] (strings)
//! or is parsed into a number or an allow-listed name first; nothing else is ever
//! concatenated into a query. As a second fence, queries run with `readonly=2`
//! (no writes, no DDL) and a time limit.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use super::config::DashboardConfig;
use crate::error::GatewayError;

/// A ClickHouse string literal: `'...'` with `\`, `'` and control characters escaped.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Run `sql` (a SELECT without a FORMAT clause) and return its rows as JSON objects.
pub async fn select(http: &reqwest::Client, cfg: &DashboardConfig, sql: &str) -> Result<Vec<Value>, GatewayError> {
    let mut url = reqwest::Url::parse(&cfg.clickhouse_url)
        .map_err(|e| GatewayError::Internal(format!("dashboard.clickhouse_url: {e}")))?;
    let timeout = cfg.query_timeout_secs.to_string();
    url.query_pairs_mut()
        .append_pair("database", &cfg.clickhouse_database)
        .append_pair("readonly", "2")
        .append_pair("max_execution_time", &timeout)
        // Numbers as JSON numbers (the default quotes 64-bit integers).
        .append_pair("output_format_json_quote_64bit_integers", "0");
    let mut request =
        http.post(url).timeout(Duration::from_secs(cfg.query_timeout_secs + 5)).body(format!("{sql} FORMAT JSON"));
    if let Some(user) = &cfg.clickhouse_user {
        request = request.header("X-ClickHouse-User", user);
    }
    if let Some(password) = &cfg.clickhouse_password {
        request = request.header("X-ClickHouse-Key", password.expose());
    }
    let response =
        request.send().await.map_err(|e| GatewayError::Unavailable(format!("ClickHouse is not reachable: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| GatewayError::Unavailable(format!("ClickHouse answer could not be read: {e}")))?;
    if !status.is_success() {
        // The exception text names tables and columns, never data; keep it in the log.
        tracing::warn!(status = status.as_u16(), error = %text.trim(), "dashboard: ClickHouse query failed");
        return Err(GatewayError::Internal("the audit database query failed (see the gateway log)".to_owned()));
    }
    let mut parsed: Value = serde_json::from_str(&text)
        .map_err(|e| GatewayError::Internal(format!("unexpected ClickHouse answer: {e}")))?;
    match parsed.get_mut("data").map(Value::take) {
        Some(Value::Array(rows)) => Ok(rows),
        _ => Err(GatewayError::Internal("unexpected ClickHouse answer: no data".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_everything_that_could_end_the_literal() {
        assert_eq!(quote("demo"), "'demo'");
        assert_eq!(quote("a'b"), r"'a\'b'");
        assert_eq!(quote(r"a\'b"), r"'a\\\'b'");
        assert_eq!(quote("x\n\0y"), r"'x\x0A\x00y'");
        assert_eq!(quote("é ünï"), "'é ünï'");
    }
}
