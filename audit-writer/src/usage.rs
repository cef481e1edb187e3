//! `audit-writer usage`: token usage per model, project, tenant or session.
//!
//! Whole-day windows (`7d`) read the `usage_daily` view; other windows
//! (`36h`, `90m`) read `audit_events FINAL` for exact boundaries. Sessions
//! read `usage_sessions`, filtered on their last activity.

use std::io::Write;
use std::time::Duration;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::error::WriterError;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageBy {
    Model,
    Project,
    Tenant,
    Session,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum UsageFormat {
    #[default]
    Table,
    Json,
    Csv,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct UsageLine {
    pub key: String,
    pub requests: u64,
    pub blocked: u64,
    pub alerted: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

const COLUMNS: [&str; 9] = [
    "key",
    "requests",
    "blocked",
    "alerted",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
];

/// `7d`, `24h`, `30m`, `45s`, `2w`.
pub fn parse_since(text: &str) -> Result<Duration, WriterError> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 =
        number.parse().map_err(|_| WriterError::Usage(format!("--since {text:?}: expected e.g. 7d, 24h, 30m")))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(WriterError::Usage(format!("--since {text:?}: unit must be s, m, h, d or w"))),
    };
    if n == 0 {
        return Err(WriterError::Usage("--since must be positive".to_owned()));
    }
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// The SQL for a report (public for the README's examples and tests).
pub fn usage_sql(by: UsageBy, since: Duration) -> String {
    let secs = since.as_secs();
    let sums = "sum(requests) AS requests, sum(blocked) AS blocked, sum(alerted) AS alerted, \
                sum(errors) AS errors, sum(input_tokens) AS input_tokens, \
                sum(output_tokens) AS output_tokens, \
                sum(cache_creation_input_tokens) AS cache_creation_input_tokens, \
                sum(cache_read_input_tokens) AS cache_read_input_tokens";
    let order = "ORDER BY input_tokens + output_tokens DESC, key";
    let key = match by {
        UsageBy::Model => "model",
        UsageBy::Project => "concat(tenant, '/', project)",
        UsageBy::Tenant => "tenant",
        UsageBy::Session => {
            return format!(
                "SELECT concat(tenant, '/', project, '/', session_id) AS key, \
                 sumMerge(requests) AS requests, sumMerge(blocked) AS blocked, \
                 sumMerge(alerted) AS alerted, sumMerge(errors) AS errors, \
                 sumMerge(input_tokens) AS input_tokens, sumMerge(output_tokens) AS output_tokens, \
                 sumMerge(cache_creation_input_tokens) AS cache_creation_input_tokens, \
                 sumMerge(cache_read_input_tokens) AS cache_read_input_tokens \
                 FROM usage_sessions GROUP BY tenant, project, session_id \
                 HAVING maxMerge(last_seen) >= now() - {secs} {order}"
            );
        }
    };
    if secs.is_multiple_of(86_400) {
        let days = secs / 86_400;
        format!(
            "SELECT {key} AS key, {sums} FROM usage_daily \
             WHERE day > today() - {days} GROUP BY key {order}"
        )
    } else {
        format!(
            "SELECT {key} AS key, count() AS requests, \
             countIf(decision = 'block') AS blocked, countIf(decision = 'alert') AS alerted, \
             countIf(decision = 'error' OR gateway_status >= 500) AS errors, \
             sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, \
             sum(cache_creation_input_tokens) AS cache_creation_input_tokens, \
             sum(cache_read_input_tokens) AS cache_read_input_tokens \
             FROM audit_events FINAL WHERE kind = 'request' AND ts >= now() - {secs} \
             GROUP BY key {order}"
        )
    }
}

pub async fn query_usage(store: &Store, by: UsageBy, since: Duration) -> Result<Vec<UsageLine>, WriterError> {
    Ok(store.client().query(&usage_sql(by, since)).fetch_all::<UsageLine>().await?)
}

fn fields(line: &UsageLine) -> [String; 9] {
    [
        line.key.clone(),
        line.requests.to_string(),
        line.blocked.to_string(),
        line.alerted.to_string(),
        line.errors.to_string(),
        line.input_tokens.to_string(),
        line.output_tokens.to_string(),
        line.cache_creation_input_tokens.to_string(),
        line.cache_read_input_tokens.to_string(),
    ]
}

pub fn render(lines: &[UsageLine], format: UsageFormat, out: &mut impl Write) -> Result<(), WriterError> {
    match format {
        UsageFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, lines).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        UsageFormat::Csv => {
            writeln!(out, "{}", COLUMNS.join(","))?;
            for line in lines {
                let row: Vec<String> = fields(line).iter().map(|f| csv_field(f)).collect();
                writeln!(out, "{}", row.join(","))?;
            }
        }
        UsageFormat::Table => {
            let rows: Vec<[String; 9]> = lines.iter().map(fields).collect();
            let mut widths = COLUMNS.map(str::len);
            for row in &rows {
                for (w, f) in widths.iter_mut().zip(row) {
                    *w = (*w).max(f.chars().count());
                }
            }
            let header: Vec<String> = COLUMNS.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            writeln!(out, "{}", header.join("  ").trim_end())?;
            for row in &rows {
                let cells: Vec<String> = row
                    .iter()
                    .zip(widths)
                    .enumerate()
                    .map(|(i, (f, w))| if i == 0 { format!("{f:<w$}") } else { format!("{f:>w$}") })
                    .collect();
                writeln!(out, "{}", cells.join("  "))?;
            }
            if rows.is_empty() {
                writeln!(out, "(no requests in this window)")?;
            }
        }
    }
    Ok(())
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(key: &str) -> UsageLine {
        UsageLine {
            key: key.to_owned(),
            requests: 3,
            blocked: 1,
            alerted: 0,
            errors: 0,
            input_tokens: 100,
            output_tokens: 20,
            cache_creation_input_tokens: 5,
            cache_read_input_tokens: 7,
        }
    }

    #[test]
    fn since_parses() {
        assert_eq!(parse_since("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_since("36h").unwrap(), Duration::from_secs(36 * 3600));
        assert!(parse_since("7").is_err());
        assert!(parse_since("d").is_err());
        assert!(parse_since("0d").is_err());
        assert!(parse_since("5y").is_err());
    }

    #[test]
    fn whole_days_use_the_daily_view() {
        assert!(usage_sql(UsageBy::Model, Duration::from_secs(86_400 * 7)).contains("FROM usage_daily"));
        assert!(usage_sql(UsageBy::Model, Duration::from_secs(3600)).contains("audit_events FINAL"));
        assert!(usage_sql(UsageBy::Session, Duration::from_secs(3600)).contains("usage_sessions"));
    }

    #[test]
    fn formats() {
        let lines = vec![line("claude-sonnet-4-5"), line("a,b")];
        let mut csv = Vec::new();
        render(&lines, UsageFormat::Csv, &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with("key,requests,"));
        assert!(csv.contains("\"a,b\",3,1,0,0,100,20,5,7"));
        let mut json = Vec::new();
        render(&lines, UsageFormat::Json, &mut json).unwrap();
        let parsed: Vec<UsageLine> = serde_json::from_slice(&json).unwrap();
        assert_eq!(parsed, lines);
        let mut table = Vec::new();
        render(&lines, UsageFormat::Table, &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.lines().next().unwrap().starts_with("key"));
        assert_eq!(table.lines().count(), 3);
    }
}
