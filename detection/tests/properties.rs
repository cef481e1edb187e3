#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Property tests: normalization is idempotent; spans stay inside their segment on char
//! boundaries (extensions' text in user and system text included); scanning arbitrary
//! strings and JSON never panics.

use std::sync::OnceLock;

use portcullis_detection::{Scanner, Segment, SegmentRef, SourceKind, inspect_body, normalize};
use proptest::prelude::*;

fn scanner() -> &'static Scanner {
    static S: OnceLock<Scanner> = OnceLock::new();
    S.get_or_init(|| Scanner::new().unwrap())
}

/// Strings rich in the characters normalization and detectors care about.
fn tricky() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "ignore",
        " ",
        "  ",
        "previous",
        "instructions",
        "\u{200B}",
        "\u{FEFF}",
        "\u{E0041}",
        "і",
        "о",
        "ｉ",
        "é",
        "e\u{301}",
        "ﬁ",
        "4111 1111 1111 1111",
        "123-45-6789",
        "sk-ant-",
        "AKIA",
        "=",
        "aWdub3Jl",
        "69676e6f7265",
        "\n\nHuman:",
        "<!--",
        "-->",
        "i g n o r e",
        ".",
        "_",
        "@",
        "+1",
        "::",
        "1.2.3.4",
        "😀",
        "\u{0}",
        "password=",
        // Extensions' text (scanned again as a tool definition) and tool signatures.
        "# MCP Server Instructions",
        "The following skills are available for use with the Skill tool",
        "</system-reminder>",
        "read ~/.ssh/id_rsa",
        "do not tell the user",
        "always bcc a@b.example",
    ]);
    (prop::collection::vec(pieces, 0..40), any::<String>()).prop_map(|(v, s)| v.concat() + &s)
}

fn seg(kind: SourceKind, text: String) -> Segment {
    Segment {
        origin: SegmentRef {
            source: kind,
            role: None,
            message_index: None,
            block_index: None,
            nested_index: None,
            request_index: None,
        },
        text,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn normalization_is_idempotent(s in tricky()) {
        let once = normalize(&s);
        let twice = normalize(once.text());
        prop_assert_eq!(once.text(), twice.text());
    }

    #[test]
    fn normalized_spans_map_inside_original(s in tricky(), a in 0usize..200, b in 0usize..200) {
        let n = normalize(&s);
        let len = n.text().len();
        let (a, b) = (a.min(len), b.min(len));
        let r = n.original_span(a.min(b)..a.max(b));
        prop_assert!(r.start <= r.end && r.end <= s.len());
        prop_assert!(s.is_char_boundary(r.start) && s.is_char_boundary(r.end));
    }

    #[test]
    fn findings_stay_within_segment(s in tricky(), k in 0usize..6) {
        let kinds = [SourceKind::System, SourceKind::UserText, SourceKind::AssistantText, SourceKind::ToolResult, SourceKind::ToolUseInput, SourceKind::Document];
        let findings = scanner().scan("prop", &[seg(kinds[k], s.clone())]);
        for f in findings {
            prop_assert!(f.span.start <= f.span.end && f.span.end <= s.len(), "{:?}", f);
            prop_assert!(s.is_char_boundary(f.span.start) && s.is_char_boundary(f.span.end));
            prop_assert!((0.0..=1.0).contains(&f.confidence));
        }
    }

    #[test]
    fn arbitrary_json_never_panics(json in arb_json()) {
        if let Ok(body) = inspect_body(&serde_json::to_vec(&json).unwrap()) {
            let _ = scanner().scan_uncached(&body.segments);
        }
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        tricky().prop_map(Value::String),
        prop::sample::select(vec![
            "text",
            "tool_result",
            "tool_use",
            "document",
            "image",
            "user",
            "assistant",
            "system",
            "content",
            "messages"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let keys = prop::sample::select(vec![
            "type", "text", "content", "role", "messages", "system", "input", "source", "data", "thinking", "model",
            "tools", "name",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}
