//! Config parsing and validation: unknown keys, bad values and env overrides.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_gateway::config::load::from_toml_str;

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let error = from_toml_str("listen = \"127.0.0.1:1\"\n[limits]\nmax_body_byte = 5\n").unwrap_err().to_string();
    assert!(error.contains("max_body_byte"), "{error}");
    let error = from_toml_str("lissen = \"x\"\n").unwrap_err().to_string();
    assert!(error.contains("lissen"), "{error}");
}

#[test]
fn invalid_values_are_explained() {
    for (toml, needle) in [
        ("listen = \"nowhere\"", "listen"),
        ("[upstream]\nurl = \"ftp://x\"", "upstream.url"),
        ("[auth]\nkey_headers = [\"x-api-key\"]", "x-api-key"),
        ("[[keys]]\nproject = \"ghost\"\nhash = \"sha256:00\"", "unknown project"),
        ("[[projects]]\nname = \"p\"\ntenant = \"t\"\n[[keys]]\nproject = \"p\"\nhash = \"plain\"", "sha256"),
        ("[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\nsigning_secret = \"short\"", "32 bytes"),
        (
            "[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\nsigning_secret = \"0123456789abcdef0123456789abcdef\"\nalgorithms = [\"none\"]",
            "not allowed",
        ),
    ] {
        let error = from_toml_str(toml).unwrap_err().to_string();
        assert!(error.contains(needle), "{toml}: {error}");
    }
}

#[test]
fn the_committed_example_config_is_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/gateway.example.toml")).unwrap();
    let config = from_toml_str(&text).unwrap();
    assert_eq!(config.projects.len(), 1);
    assert_eq!(config.upstream.base_url, "https://api.anthropic.com");
}

#[test]
fn debug_output_never_shows_the_jwt_secret() {
    let config = from_toml_str(
        "[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\nsigning_secret = \"0123456789abcdef0123456789abcdef-top-secret\"",
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("top-secret"));
    assert!(debug.contains("[REDACTED]"));
}
