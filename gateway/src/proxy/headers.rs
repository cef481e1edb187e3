//! Header rules for both directions of the proxy.
//!
//! Upstream: end-to-end headers (`authorization`, `x-api-key`, `anthropic-*`,
//! `user-agent`, `x-stainless-*`, `x-claude-code-session-id`, ...) are forwarded unchanged;
//! hop-by-hop headers, any header named in `Connection`, incoming `x-forwarded-*` /
//! `forwarded`, and the gateway's own credentials are removed. `anthropic-version` is
//! added only when absent. `accept-encoding` is sent as `identity`: the gateway reads
//! token usage from the response, and the client then receives the upstream bytes
//! uncompressed and unchanged (the gateway never adds compression of its own).
//!
//! Downstream: upstream response headers are relayed except hop-by-hop ones.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::auth::UpstreamAuth;

pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// RFC 9110 §7.6.1 hop-by-hop headers, plus the non-standard ones proxies meet in practice.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &str, listed: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || listed.iter().any(|l| l == name)
}

/// Headers to send upstream for a request that arrived with `incoming`.
pub fn upstream_request_headers(incoming: &HeaderMap, auth: &UpstreamAuth) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + 2);
    for (name, value) in incoming {
        let n = name.as_str();
        let dropped = is_hop_by_hop(n, &listed)
            || n == "host"
            || n == "content-length"
            || n == "accept-encoding"
            || n == "forwarded"
            || n.starts_with("x-forwarded-")
            || auth.strip.iter().any(|s| s == name);
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(key) = &auth.api_key
        && let Ok(mut value) = HeaderValue::from_str(key.expose())
    {
        value.set_sensitive(true);
        out.insert(HeaderName::from_static("x-api-key"), value);
    }
    if !out.contains_key("anthropic-version") {
        out.insert(HeaderName::from_static("anthropic-version"), HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION));
    }
    out.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    out
}

/// Headers to relay to the client from an upstream response.
pub fn client_response_headers(upstream: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(upstream);
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        if !is_hop_by_hop(name.as_str(), &listed) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwards_end_to_end_and_strips_the_rest() {
        let incoming = map(&[
            ("authorization", "Bearer sk-ant-abc"),
            ("x-api-key", "sk-ant-abc"),
            ("anthropic-beta", "a,b"),
            ("x-stainless-os", "Linux"),
            ("x-claude-code-session-id", "s1"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-portcullis-key", "pcl_x"),
            ("host", "gateway"),
            ("accept-encoding", "gzip"),
        ]);
        let auth = UpstreamAuth { strip: vec![HeaderName::from_static("x-portcullis-key")], api_key: None };
        let out = upstream_request_headers(&incoming, &auth);
        assert_eq!(out["authorization"], "Bearer sk-ant-abc");
        assert_eq!(out["x-api-key"], "sk-ant-abc");
        assert_eq!(out["anthropic-beta"], "a,b");
        assert_eq!(out["x-stainless-os"], "Linux");
        assert_eq!(out["x-claude-code-session-id"], "s1");
        assert_eq!(out["anthropic-version"], DEFAULT_ANTHROPIC_VERSION);
        assert_eq!(out["accept-encoding"], "identity");
        for gone in ["connection", "x-secret-hop", "keep-alive", "x-forwarded-for", "x-portcullis-key", "host"] {
            assert!(!out.contains_key(gone), "{gone} must be stripped");
        }
    }

    #[test]
    fn keeps_a_present_anthropic_version_and_sets_jwt_mode_key() {
        let incoming = map(&[("anthropic-version", "2026-10-21"), ("authorization", "Bearer eyJ.x.y")]);
        let auth =
            UpstreamAuth { strip: vec![header::AUTHORIZATION], api_key: Some(Secret::new("sk-ant-real".to_string())) };
        let out = upstream_request_headers(&incoming, &auth);
        assert_eq!(out["anthropic-version"], "2026-10-21");
        assert_eq!(out["x-api-key"], "sk-ant-real");
        assert!(!out.contains_key("authorization"));
    }
}
