//! NATS subject names for audit events.

/// Longest tenant token put in a subject; tenants are identifiers, and the
/// full name is in the event anyway.
const MAX_TOKEN_LEN: usize = 64;

/// A tenant name as a single NATS subject token: letters, digits, `_` and
/// `-` are kept, anything else (dots, wildcards, spaces, non-ASCII) becomes
/// `_`, so a tenant can never address another subject; empty becomes `_`.
pub fn tenant_token(tenant: &str) -> String {
    let token: String = tenant
        .chars()
        .take(MAX_TOKEN_LEN)
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    if token.is_empty() { "_".to_owned() } else { token }
}

/// `<prefix>.<tenant token>`.
pub fn subject_for(prefix: &str, tenant: &str) -> String {
    format!("{prefix}.{}", tenant_token(tenant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_become_one_safe_token() {
        assert_eq!(subject_for("audit.events", "acme"), "audit.events.acme");
        assert_eq!(tenant_token("a.b*c >d"), "a_b_c__d");
        assert_eq!(tenant_token(""), "_");
        assert_eq!(tenant_token("ünï"), "_n_");
        assert_eq!(tenant_token(&"x".repeat(200)).len(), MAX_TOKEN_LEN);
    }
}
