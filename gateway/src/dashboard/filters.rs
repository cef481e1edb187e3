//! The logs and usage filters: query-string parameters parsed and validated, then
//! rendered as a SQL `WHERE` clause (values quoted by [`super::clickhouse::quote`]).

use serde::Deserialize;

use super::clickhouse::quote;
use crate::error::GatewayError;

/// Longest filter value accepted (ids, names and paths are far shorter).
const MAX_VALUE_LEN: usize = 256;
/// Most rows one logs page returns.
pub const MAX_LIMIT: u32 = 1000;
const DECISIONS: [&str; 5] = ["allow", "alert", "block", "auth_failed", "error"];

/// Query parameters as sent by the page (all optional; empty means "any").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    /// Unix seconds, inclusive.
    pub from: Option<String>,
    /// Unix seconds, exclusive.
    pub to: Option<String>,
    pub path: Option<String>,
    pub project: Option<String>,
    pub decision: Option<String>,
    pub detector: Option<String>,
    pub model: Option<String>,
    pub session: Option<String>,
    pub limit: Option<String>,
    /// Usage only: `model` or `project`.
    pub by: Option<String>,
}

/// A validated filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub from: i64,
    pub to: i64,
    pub path: Option<String>,
    pub project: Option<String>,
    pub decision: Option<&'static str>,
    pub detector: Option<String>,
    pub model: Option<String>,
    pub session: Option<String>,
    pub limit: u32,
}

fn text(name: &str, value: Option<String>) -> Result<Option<String>, GatewayError> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) if v.len() > MAX_VALUE_LEN => {
            Err(GatewayError::BadRequest(format!("filter {name} is longer than {MAX_VALUE_LEN} bytes")))
        }
        Some(v) => Ok(Some(v.trim().to_owned())),
    }
}

fn seconds(name: &str, value: Option<&str>, default: i64) -> Result<i64, GatewayError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=4_102_444_800).contains(n))
            .ok_or_else(|| GatewayError::BadRequest(format!("filter {name} must be Unix seconds"))),
    }
}

impl Filter {
    /// Validate `raw`; the default window is the last 24 hours before `now_secs`.
    pub fn parse(raw: RawFilter, now_secs: i64) -> Result<Filter, GatewayError> {
        let to = seconds("to", raw.to.as_deref(), now_secs + 60)?;
        let from = seconds("from", raw.from.as_deref(), to - 86_400)?;
        if from >= to {
            return Err(GatewayError::BadRequest("filter from must be before to".to_owned()));
        }
        let decision = match text("decision", raw.decision)? {
            None => None,
            Some(d) => Some(DECISIONS.into_iter().find(|known| *known == d).ok_or_else(|| {
                GatewayError::BadRequest(format!("filter decision must be one of {}", DECISIONS.join(", ")))
            })?),
        };
        let limit = match raw.limit.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => 200,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| GatewayError::BadRequest(format!("limit must be 1..={MAX_LIMIT}")))?,
        };
        Ok(Filter {
            from,
            to,
            path: text("path", raw.path)?,
            project: text("project", raw.project)?,
            decision,
            detector: text("detector", raw.detector)?,
            model: text("model", raw.model)?,
            session: text("session", raw.session)?,
            limit,
        })
    }

    /// The `WHERE` conditions over `audit_events` (request events only).
    pub fn where_sql(&self) -> String {
        let mut conditions = vec![
            "kind = 'request'".to_owned(),
            format!("ts >= toDateTime({})", self.from),
            format!("ts < toDateTime({})", self.to),
        ];
        let equals =
            [("path", &self.path), ("project", &self.project), ("model", &self.model), ("session_id", &self.session)];
        for (column, value) in equals {
            if let Some(value) = value {
                conditions.push(format!("{column} = {}", quote(value)));
            }
        }
        if let Some(decision) = self.decision {
            conditions.push(format!("decision = {}", quote(decision)));
        }
        if let Some(detector) = &self.detector {
            conditions.push(format!("has(finding_detector_id, {})", quote(detector)));
        }
        conditions.join(" AND ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawFilter {
        RawFilter::default()
    }

    #[test]
    fn defaults_to_the_last_day() {
        let filter = Filter::parse(raw(), 1_000_000).unwrap();
        assert_eq!((filter.from, filter.to, filter.limit), (1_000_060 - 86_400, 1_000_060, 200));
        assert_eq!(filter.where_sql(), "kind = 'request' AND ts >= toDateTime(913660) AND ts < toDateTime(1000060)");
    }

    #[test]
    fn values_are_quoted_and_names_allow_listed() {
        let filter = Filter::parse(
            RawFilter {
                project: Some("x' OR 1=1 --".into()),
                detector: Some("a\\'b".into()),
                decision: Some("block".into()),
                ..raw()
            },
            1_000_000,
        )
        .unwrap();
        let sql = filter.where_sql();
        assert!(sql.contains(r"project = 'x\' OR 1=1 --'"), "{sql}");
        assert!(sql.contains(r"has(finding_detector_id, 'a\\\'b')"), "{sql}");
        assert!(sql.contains("decision = 'block'"));
        let bad = Filter::parse(RawFilter { decision: Some("block' OR '1".into()), ..raw() }, 1);
        assert!(bad.is_err());
        assert!(Filter::parse(RawFilter { from: Some("1; DROP".into()), ..raw() }, 1).is_err());
        assert!(Filter::parse(RawFilter { limit: Some("100000".into()), ..raw() }, 1).is_err());
        assert!(Filter::parse(RawFilter { model: Some("m".repeat(300)), ..raw() }, 1).is_err());
    }
}
