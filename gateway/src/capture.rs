//! Content capture for projects with `capture = "redacted"`: the conversation rendered
//! from the inspected segments, with every PII and secret span the signature detectors
//! found replaced by its redacted rendering. Projects default to `none` (metadata only).

use std::collections::HashMap;

use portcullis_detection::{Category, Finding, RequestFacts, Segment, SegmentRef, SourceKind};
use portcullis_schemas::{CapturedBlock, CapturedBlockKind, CapturedConversation, CapturedMessage};

/// Upper bound of captured text per event; beyond it the capture is marked truncated.
const MAX_CAPTURED_BYTES: usize = 256 * 1024;
/// What each captured block costs the budget on top of its text (its JSON/msgpack
/// framing), so a body of 100,000 one-character blocks cannot make a huge event.
const BLOCK_OVERHEAD: usize = 32;

/// `text` with the spans of `findings` (its PII/secret findings, chosen by [`capture`])
/// replaced (spans are on char boundaries and inside the segment, which the detection
/// crate guarantees).
fn mask(text: &str, findings: &[&Finding]) -> String {
    let mut spans: Vec<(std::ops::Range<usize>, &str)> =
        findings.iter().map(|f| (f.span.clone(), f.redacted.as_str())).collect();
    spans.sort_by_key(|(span, _)| span.start);
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for (span, redacted) in spans {
        if span.start < cursor || span.end > text.len() {
            // Overlapping span: the earlier mask already covers its start.
            if span.end > cursor && span.end <= text.len() {
                cursor = span.end;
            }
            continue;
        }
        out.push_str(text.get(cursor..span.start).unwrap_or_default());
        out.push_str(redacted);
        cursor = span.end;
    }
    out.push_str(text.get(cursor..).unwrap_or_default());
    out
}

fn kind_of(source: SourceKind) -> CapturedBlockKind {
    match source {
        SourceKind::ToolResult => CapturedBlockKind::ToolResult,
        SourceKind::ToolUseInput => CapturedBlockKind::ToolUse,
        SourceKind::Document => CapturedBlockKind::Document,
        _ => CapturedBlockKind::Text,
    }
}

/// Stands in for a segment whose findings the scan's per-request bound cut short: its
/// unmasked PII or secrets would otherwise be captured.
pub const WITHHELD: &str = "[withheld: more findings than one request keeps]";

/// The conversation with PII and secrets masked. `incomplete_segments` (ascending
/// indices into `segments`) are the segments whose findings are not all in `findings`.
pub fn capture(
    facts: &RequestFacts,
    segments: &[Segment],
    findings: &[Finding],
    incomplete_segments: &[usize],
) -> CapturedConversation {
    let mut conversation = CapturedConversation::default();
    let mut budget = MAX_CAPTURED_BYTES;
    // Tool names take at most a quarter of the budget (a body may declare any number of
    // tools; the conversation matters more).
    let mut tool_budget = MAX_CAPTURED_BYTES / 4;
    for name in &facts.tool_names {
        let cost = name.len() + BLOCK_OVERHEAD;
        if cost > tool_budget {
            conversation.truncated = true;
            break;
        }
        tool_budget -= cost;
        budget -= cost;
        conversation.tools.push(name.clone());
    }
    // Each segment's PII/secret findings (what masking replaces), grouped in one pass (a filter over all findings per
    // segment was quadratic: a body of many small segments has as many findings).
    let mut by_segment: HashMap<&SegmentRef, Vec<&Finding>> = HashMap::new();
    for f in findings.iter().filter(|f| matches!(f.category, Category::Pii | Category::Secret)) {
        by_segment.entry(&f.segment).or_default().push(f);
    }
    // Segments come in body order; consecutive segments of one message (of one request,
    // in a batch) form its blocks.
    let mut current_message: Option<(Option<usize>, usize)> = None;
    for (index, segment) in segments.iter().enumerate() {
        if segment.origin.source == SourceKind::ToolDefinition {
            // Tools are captured by name (above): their definitions are the same long
            // texts on every request and would crowd the conversation out of the budget.
            continue;
        }
        if budget <= BLOCK_OVERHEAD {
            conversation.truncated = true;
            break;
        }
        budget -= BLOCK_OVERHEAD;
        let mut text = if incomplete_segments.binary_search(&index).is_ok() {
            WITHHELD.to_owned()
        } else {
            mask(&segment.text, by_segment.get(&segment.origin).map_or(&[], Vec::as_slice))
        };
        if text.len() > budget {
            let mut cut = budget;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            conversation.truncated = true;
        }
        budget -= text.len();
        let request = segment.origin.request_index;
        match (request, segment.origin.message_index) {
            // A Files API upload: each file is a message of its own.
            (None, None) if segment.origin.source == SourceKind::Document => {
                let block = CapturedBlock { kind: CapturedBlockKind::Document, text, name: None };
                conversation.messages.push(CapturedMessage {
                    role: "file".into(),
                    blocks: vec![block],
                    request_index: None,
                });
                current_message = None;
            }
            (None, None) => conversation.system.push(text),
            (_, message) => {
                // A batch request's top-level system prompt is a message of its own, so
                // it stays with its request; usize::MAX keys it apart from its messages.
                let key = (request, message.unwrap_or(usize::MAX));
                if current_message != Some(key) {
                    let role = segment.origin.role.clone().unwrap_or_else(|| "system".to_owned());
                    let request_index = request.and_then(|r| u32::try_from(r).ok());
                    conversation.messages.push(CapturedMessage { role, blocks: Vec::new(), request_index });
                    current_message = Some(key);
                }
                if let Some(message) = conversation.messages.last_mut() {
                    message.blocks.push(CapturedBlock { kind: kind_of(segment.origin.source), text, name: None });
                }
            }
        }
        if budget == 0 {
            break;
        }
    }
    conversation
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_detection::{Scanner, inspect_body};

    #[test]
    fn secrets_and_pii_are_masked_and_turns_kept_in_order() {
        let body = serde_json::json!({
            "system": "be nice",
            "tools": [{"name": "Bash"}],
            "messages": [
                {"role": "user", "content": "my key is sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789 and ssn 123-45-6789"},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}, {"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "ls"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "a.txt"}]}
            ]
        });
        let body = inspect_body(&serde_json::to_vec(&body).unwrap()).unwrap();
        let findings = Scanner::new().unwrap().scan_uncached(&body.segments);
        let captured = capture(&body.facts, &body.segments, &findings, &[]);
        let text = serde_json::to_string(&captured).unwrap();
        assert!(!text.contains("abcdefghijklmnopqrstuvwxyz0123456789"), "{text}");
        assert!(!text.contains("123-45-6789"), "{text}");
        assert_eq!(captured.system, vec!["be nice"]);
        assert_eq!(captured.tools, vec!["Bash"]);
        let roles: Vec<&str> = captured.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(captured.messages[1].blocks.len(), 2);
        assert_eq!(captured.messages[2].blocks[0].kind, CapturedBlockKind::ToolResult);
    }

    #[test]
    fn a_batch_keeps_each_request_s_messages_apart() {
        let request = |system: &str, text: &str| serde_json::json!({"system": system, "messages": [{"role": "user", "content": text}]});
        let batch = serde_json::json!({"requests": [
            {"custom_id": "a", "params": request("first system", "mail jane.doe@example.org")},
            {"custom_id": "b", "params": request("second system", "hello")}
        ]});
        let batch = portcullis_detection::inspect_batch_body(&serde_json::to_vec(&batch).unwrap()).unwrap();
        let findings = Scanner::new().unwrap().scan_uncached(&batch.segments);
        let facts = crate::inspect::batch_facts(&batch.requests);
        let captured = capture(&facts, &batch.segments, &findings, &[]);
        assert!(captured.system.is_empty());
        let messages: Vec<(&str, Option<u32>, &str)> =
            captured.messages.iter().map(|m| (m.role.as_str(), m.request_index, m.blocks[0].text.as_str())).collect();
        assert_eq!(
            messages,
            [
                ("system", Some(0), "first system"),
                ("user", Some(0), "mail [REDACTED 20 bytes]"),
                ("system", Some(1), "second system"),
                ("user", Some(1), "hello")
            ]
        );
    }

    #[test]
    fn many_tiny_blocks_are_bounded_by_their_framing_too() {
        let blocks: Vec<_> = (0..100_000).map(|_| serde_json::json!({"type": "text", "text": "x"})).collect();
        let body = serde_json::json!({"messages": [{"role": "user", "content": blocks}]});
        let body = inspect_body(&serde_json::to_vec(&body).unwrap()).unwrap();
        let captured = capture(&body.facts, &body.segments, &[], &[]);
        assert!(captured.truncated);
        let kept = captured.messages[0].blocks.len();
        assert!(kept < MAX_CAPTURED_BYTES / BLOCK_OVERHEAD, "{kept}");
        assert!(serde_json::to_vec(&captured).unwrap().len() < 2 * MAX_CAPTURED_BYTES);
    }

    #[test]
    fn tool_names_share_the_budget() {
        let tools: Vec<_> = (0..20_000).map(|i| serde_json::json!({"name": format!("tool_{i:05}")})).collect();
        let body = serde_json::json!({"tools": tools, "messages": [{"role": "user", "content": "hi"}]});
        let body = inspect_body(&serde_json::to_vec(&body).unwrap()).unwrap();
        let captured = capture(&body.facts, &body.segments, &[], &[]);
        assert!(captured.truncated);
        assert!(captured.tools.len() < MAX_CAPTURED_BYTES / 4 / BLOCK_OVERHEAD, "{}", captured.tools.len());
        assert_eq!(captured.tools[0], "tool_00000");
        assert_eq!(captured.messages[0].blocks[0].text, "hi", "the conversation still fits");
    }

    #[test]
    fn segments_past_the_findings_bound_are_withheld_not_captured_unmasked() {
        let blocks: Vec<_> =
            (0..40).map(|i| serde_json::json!({"type": "text", "text": format!("mail u{i}@example.com")})).collect();
        let body = serde_json::json!({"messages": [{"role": "user", "content": blocks}]});
        let body = inspect_body(&serde_json::to_vec(&body).unwrap()).unwrap();
        let report = Scanner::new().unwrap().scan_report("t", &body.segments);
        assert!(!report.incomplete_segments.is_empty());
        let captured = capture(&body.facts, &body.segments, &report.findings, &report.incomplete_segments);
        let texts: Vec<&str> = captured.messages[0].blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts.len(), 40);
        for (i, text) in texts.iter().enumerate() {
            assert!(!text.contains("@example.com"), "block {i}: {text}");
            let withheld = report.incomplete_segments.contains(&i);
            assert_eq!(*text == WITHHELD, withheld, "block {i}: {text}");
        }
    }
}
