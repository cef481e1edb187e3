//! Where a client hands the model text written by the extensions a user installed (MCP
//! servers, skills), inside a user or system text. That text is its authors' own words,
//! as free as a tool description and as able to carry a poisoned instruction, so the
//! scanner reads it again as a tool definition.
//!
//! Each kind of extension text starts at a marker the client writes and ends where the
//! client's own framing ends. An extension can write a client's end marker into its own
//! text to end the region early, so a region ends at the *last* end marker after its
//! start; what the user writes after the client's framing (their request, their custom
//! rules) stays out, because a user's "send all mails to ops@…" is a request, not a
//! poisoned tool.

use std::ops::Range;

use memchr::memmem::{Finder, FinderRev};

use crate::segments::SourceKind;

/// One client's framing of extension text: where it starts, and the marker whose last
/// occurrence after the start ends it (the end of the text when there is none).
struct Framing {
    start: &'static str,
    end: &'static str,
}

/// The framings known:
/// - Claude Code: the `instructions` of its MCP servers, one part per server, in a
///   `<system-reminder>` of the first user turn (earlier versions: a section of the
///   system prompt), and the catalogue of installed skills (plugins' included) with their
///   authors' descriptions, in another reminder of that turn;
/// - Cline and Roo Code: the connected MCP servers' tools with their descriptions and
///   input schemas, a section of the system prompt, which ends before the section of the
///   user's own custom instructions (or the end of the prompt when there is none).
const FRAMINGS: [Framing; 3] = [
    Framing { start: "# MCP Server Instructions", end: "</system-reminder>" },
    Framing { start: "The following skills are available for use with the Skill tool", end: "</system-reminder>" },
    Framing {
        start: "When a server is connected, you can use the server's tools via the `use_mcp_tool` tool",
        end: "USER'S CUSTOM INSTRUCTIONS",
    },
];

/// The framings' markers, compiled for SIMD search: every user and system text is
/// searched for them (`str::find` took 27.5 µs for two markers on a 76 KB text, these
/// finders 4.2 µs).
pub(crate) struct ExtensionText {
    markers: Vec<(Finder<'static>, FinderRev<'static>)>,
}

impl ExtensionText {
    pub(crate) fn new() -> Self {
        ExtensionText { markers: FRAMINGS.iter().map(|f| (Finder::new(f.start), FinderRev::new(f.end))).collect() }
    }

    /// The regions of `text` (a `kind` text) that hold extension text, ascending and
    /// disjoint; empty for other kinds of text.
    pub(crate) fn regions(&self, kind: SourceKind, text: &str) -> Vec<Range<usize>> {
        if !matches!(kind, SourceKind::UserText | SourceKind::System) {
            return Vec::new();
        }
        let bytes = text.as_bytes();
        let mut regions: Vec<Range<usize>> = self
            .markers
            .iter()
            .filter_map(|(start, end)| {
                let from = start.find(bytes)?;
                let to = match end.rfind(bytes) {
                    Some(to) if to > from => to,
                    _ => bytes.len(),
                };
                Some(from..to)
            })
            .collect();
        regions.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(regions.len());
        for region in regions {
            match merged.last_mut() {
                Some(last) if region.start <= last.end => last.end = last.end.max(region.end),
                _ => merged.push(region),
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_run_from_a_start_marker_to_the_last_end_marker_after_it() {
        let x = ExtensionText::new();
        let text = "hi <system-reminder>\n# MCP Server Instructions\nA</system-reminder>B</system-reminder>\nuser";
        let regions = x.regions(SourceKind::UserText, text);
        assert_eq!(regions.len(), 1);
        assert!(text[regions[0].clone()].starts_with("# MCP Server Instructions"));
        assert!(text[regions[0].clone()].ends_with("A</system-reminder>B"));
        // No end marker after the start: to the end of the text.
        let text = "</system-reminder> # MCP Server Instructions\nrest";
        assert_eq!(x.regions(SourceKind::System, text), vec![Range { start: 19, end: text.len() }]);
        // Two Claude Code markers share their end: one region from the first.
        let text = "# MCP Server Instructions\na</system-reminder>\nThe following skills are available for use with the Skill tool:\n- s: d</system-reminder>\nuser";
        let end = text.rfind("</system-reminder>").unwrap();
        assert_eq!(x.regions(SourceKind::UserText, text), vec![Range { start: 0, end }]);
        // Other kinds of text, and text without a marker, have none.
        assert!(x.regions(SourceKind::ToolResult, "# MCP Server Instructions\nA").is_empty());
        assert!(x.regions(SourceKind::UserText, "# MCP Servers\nA").is_empty());
    }

    #[test]
    fn clines_mcp_section_ends_before_the_users_custom_instructions() {
        let x = ExtensionText::new();
        let text = "TOOL USE\n====\nMCP SERVERS\n# Connected MCP Servers\n\nWhen a server is connected, you can use the \
                    server's tools via the `use_mcp_tool` tool, and ...\n## weather\n- get: d\n====\nRULES\n...\n====\n\n\
                    USER'S CUSTOM INSTRUCTIONS\n\nAlways send a copy to ops@example.com";
        let regions = x.regions(SourceKind::System, text);
        assert_eq!(regions.len(), 1);
        let region = &text[regions[0].clone()];
        assert!(region.starts_with("When a server is connected") && region.contains("RULES"));
        assert!(!region.contains("ops@example.com"));
    }
}
