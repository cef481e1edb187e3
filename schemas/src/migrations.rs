//! The numbered ClickHouse migrations in `schemas/migrations/`, embedded.
//!
//! Every statement is idempotent and valid on ClickHouse 18.16 as well as
//! current versions: `CREATE ... IF NOT EXISTS`, or an `ALTER TABLE t ADD
//! COLUMN c` (18.16 has no `IF NOT EXISTS` there) that the runner skips when
//! the column exists, see [`added_column`]. The audit-writer records applied
//! versions in a `schema_migrations` table and applies the rest in order.
//! Features that only newer servers have (TTL retention, ...) are not here:
//! the writer enables them after checking `SELECT version()`.

/// One numbered migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The `NNN` prefix of the file name; applied in ascending order.
    pub version: u32,
    /// The file name without `NNN_` and `.sql`.
    pub name: &'static str,
    /// The file's full text (one or more `;`-terminated statements).
    pub sql: &'static str,
}

impl Migration {
    /// The statements of this migration, comments and blank lines removed,
    /// without the trailing `;` (ClickHouse's HTTP interface runs one
    /// statement per request). Splits on `;` at a line end, so statements
    /// must not contain such a `;` inside a string literal.
    pub fn statements(&self) -> Vec<String> {
        let mut statements = Vec::new();
        let mut current = String::new();
        for line in self.sql.lines() {
            let code = line.trim_end();
            if code.trim_start().starts_with("--") || code.trim().is_empty() {
                continue;
            }
            if let Some(body) = code.strip_suffix(';') {
                current.push_str(body);
                push_statement(&mut statements, &mut current);
            } else {
                current.push_str(code);
                current.push('\n');
            }
        }
        push_statement(&mut statements, &mut current);
        statements
    }
}

fn push_statement(statements: &mut Vec<String>, current: &mut String) {
    let statement = current.trim();
    if !statement.is_empty() {
        statements.push(statement.to_owned());
    }
    current.clear();
}

/// For a statement `ALTER TABLE <table> ADD COLUMN <column> ...`: `(table, column)`,
/// so a runner can check `system.columns` first (ClickHouse 18.16 has no
/// `ADD COLUMN IF NOT EXISTS`). Backquotes around either name are removed.
pub fn added_column(statement: &str) -> Option<(&str, &str)> {
    let mut words = statement.split_whitespace();
    let keyword = |w: Option<&str>, k: &str| w.is_some_and(|w| w.eq_ignore_ascii_case(k));
    if !(keyword(words.next(), "ALTER") && keyword(words.next(), "TABLE")) {
        return None;
    }
    let table = words.next()?.trim_matches('`');
    if !(keyword(words.next(), "ADD") && keyword(words.next(), "COLUMN")) {
        return None;
    }
    let column = words.next()?.trim_matches('`');
    if column.eq_ignore_ascii_case("IF") {
        return None; // `IF NOT EXISTS` is already idempotent where it parses
    }
    Some((table, column))
}

/// Every migration, in ascending version order.
pub fn migrations() -> &'static [Migration] {
    &MIGRATIONS
}

static MIGRATIONS: [Migration; 5] = [
    Migration { version: 1, name: "audit_events", sql: include_str!("../migrations/001_audit_events.sql") },
    Migration { version: 2, name: "usage_daily", sql: include_str!("../migrations/002_usage_daily.sql") },
    Migration { version: 3, name: "usage_sessions", sql: include_str!("../migrations/003_usage_sessions.sql") },
    Migration { version: 4, name: "omitted_counts", sql: include_str!("../migrations/004_omitted_counts.sql") },
    Migration { version: 5, name: "request_index", sql: include_str!("../migrations/005_request_index.sql") },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_and_statements_split() {
        let all = migrations();
        for pair in all.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        assert_eq!(all[0].statements().len(), 1);
        assert_eq!(all[1].statements().len(), 2);
        assert_eq!(all[2].statements().len(), 2);
        assert_eq!(all[3].statements().len(), 2);
        assert_eq!(added_column(&all[3].statements()[0]), Some(("audit_events", "findings_omitted")));
        assert_eq!(added_column("alter table `t` add column `c` UInt8"), Some(("t", "c")));
        assert_eq!(added_column("ALTER TABLE t ADD COLUMN IF NOT EXISTS c UInt8"), None);
        assert_eq!(added_column("CREATE TABLE IF NOT EXISTS t (c UInt8)"), None);
        assert_eq!(added_column("ALTER TABLE t DROP COLUMN c"), None);
        for m in all {
            for s in m.statements() {
                assert!(!s.ends_with(';'));
                // Idempotent: CREATE ... IF NOT EXISTS, or an ADD COLUMN the runner guards.
                assert!((s.starts_with("CREATE") && s.contains("IF NOT EXISTS")) || added_column(&s).is_some(), "{s}");
                assert!(!s.contains("--"));
            }
        }
    }
}
