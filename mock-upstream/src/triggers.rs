//! `[[mock:...]]` markers in the last user message that make the mock misbehave
//! on purpose (errors, hangs, tool calls, long replies).

/// Upper bound for `[[mock:words=N]]`, so a typo cannot exhaust memory.
pub(crate) const MAX_WORDS: usize = 1_000_000;

/// Which markers the prompt contains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Triggers {
    pub(crate) overloaded: bool,
    pub(crate) rate_limit: bool,
    pub(crate) server_error: bool,
    pub(crate) midstream_error: bool,
    pub(crate) tool_use: bool,
    pub(crate) hang: bool,
    /// `[[mock:words=N]]`: reply with exactly N words (capped at [`MAX_WORDS`]).
    pub(crate) words: Option<usize>,
}

impl Triggers {
    pub(crate) fn scan(text: &str) -> Self {
        Self {
            overloaded: text.contains("[[mock:overloaded]]"),
            rate_limit: text.contains("[[mock:rate_limit]]"),
            server_error: text.contains("[[mock:server_error]]"),
            midstream_error: text.contains("[[mock:midstream_error]]"),
            tool_use: text.contains("[[mock:tool_use]]"),
            hang: text.contains("[[mock:hang]]"),
            words: word_count_marker(text),
        }
    }
}

fn word_count_marker(text: &str) -> Option<usize> {
    const OPEN: &str = "[[mock:words=";
    text.match_indices(OPEN).find_map(|(start, _)| {
        let rest = &text[start + OPEN.len()..];
        let (digits, _) = rest.split_once("]]")?;
        let n: usize = digits.trim().parse().ok()?;
        Some(n.min(MAX_WORDS))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_markers() {
        let t = Triggers::scan("hi [[mock:tool_use]] and [[mock:words=42]]");
        assert!(t.tool_use);
        assert!(!t.hang);
        assert_eq!(t.words, Some(42));
    }

    #[test]
    fn ignores_malformed_word_marker() {
        assert_eq!(Triggers::scan("[[mock:words=abc]]").words, None);
        assert_eq!(Triggers::scan("[[mock:words=12").words, None);
        assert_eq!(Triggers::scan("[[mock:words=999999999999]]").words, Some(MAX_WORDS));
    }
}
