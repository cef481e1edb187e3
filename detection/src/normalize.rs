//! Evasion-resistant text normalization with an offset map back to the original text.
//!
//! [`normalize`] folds a text, character by character, to the form the signatures are
//! written for:
//! - removes zero-width and invisible formatting characters (U+200B–U+200F, U+2060–U+2064,
//!   U+FEFF, U+00AD, U+180E, bidi embeddings/isolates) and Unicode tag characters
//!   (U+E0000–U+E007F, used to smuggle invisible ASCII);
//! - applies Unicode compatibility decomposition (the "K" of NFKC: fullwidth `ｉｇｎｏｒｅ`,
//!   ligatures, math alphanumerics, non-breaking and ideographic spaces all become plain
//!   ASCII) and drops combining marks, so `ìgnóre` and `ignore` match alike (for matching
//!   this subsumes NFKC; composition is not needed because the patterns are ASCII);
//! - folds common Cyrillic and Greek look-alikes to their Latin twins (`іgnоrе` with
//!   Cyrillic і/о/е becomes `ignore`) and Unicode dashes to `-`.
//!
//! Case is kept: secret and PII patterns are case-sensitive, injection patterns match
//! case-insensitively. Every output byte remembers the original byte range of the
//! character it came from, so a match in the normalized text maps back to a span that
//! lies on character boundaries of the original text. Pure-ASCII text is already in
//! normal form and is used as-is (no copy, no map).
//!
//! [`collapse_spacing`] builds a further view in which letter-spaced runs
//! (`i g n o r e`, `i.g.n.o.r.e`, `i_g_n_o_r_e`) are joined.

use std::borrow::Cow;
use std::ops::Range;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A text derived from a parent text, with a map from its bytes back to the parent.
#[derive(Debug, Clone)]
pub struct Normalized<'a> {
    text: Cow<'a, str>,
    /// For each output byte: the parent byte range of the character that produced it.
    /// `None` when the text is the parent itself (identity).
    map: Option<Vec<(u32, u32)>>,
}

impl<'a> Normalized<'a> {
    /// The parent text unchanged.
    pub fn identity(text: &'a str) -> Self {
        Normalized { text: Cow::Borrowed(text), map: None }
    }

    /// The normalized text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the text is the parent unchanged.
    pub fn is_identity(&self) -> bool {
        self.map.is_none()
    }

    /// Maps a byte range of the normalized text back to the parent text. The result lies on
    /// character boundaries of the parent and covers every character that contributed.
    /// An empty range maps to an empty range at the corresponding position.
    pub fn original_span(&self, range: Range<usize>) -> Range<usize> {
        let Some(map) = &self.map else {
            return range;
        };
        if map.is_empty() {
            return 0..0;
        }
        let last = map.len() - 1;
        let start = map[range.start.min(last)].0 as usize;
        if range.end <= range.start {
            return start..start;
        }
        let end = map[(range.end - 1).min(last)].1 as usize;
        start..end.max(start)
    }
}

/// Normalizes `text` (see the module docs). Idempotent: normalizing the output again
/// changes nothing.
pub fn normalize(text: &str) -> Normalized<'_> {
    if text.is_ascii() {
        return Normalized::identity(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let span = (offset(i), offset(i + c.len_utf8()));
        if is_invisible(c) {
            continue;
        }
        if c.is_ascii() {
            out.push(c);
            map.push(span);
            continue;
        }
        decompose_compatible(c, |d| {
            if is_invisible(d) || is_combining_mark(d) {
                return;
            }
            let folded = fold_homoglyph(d);
            out.push(folded);
            for _ in 0..folded.len_utf8() {
                map.push(span);
            }
        });
    }
    Normalized { text: Cow::Owned(out), map: Some(map) }
}

fn offset(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Characters that render as nothing and only serve to split a word for a matcher.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Latin look-alikes from Cyrillic and Greek, and typographic dashes. Targets are ASCII,
/// so folding twice is a no-op.
fn fold_homoglyph(c: char) -> char {
    match c {
        // Cyrillic lower case
        'а' => 'a',
        'е' => 'e',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'у' => 'y',
        'х' => 'x',
        'і' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'һ' => 'h',
        'ӏ' => 'l',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ь' => 'b',
        'т' => 't',
        'м' => 'm',
        'н' => 'h',
        'к' => 'k',
        'в' => 'b',
        // Cyrillic upper case
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'Х' => 'X',
        'У' => 'Y',
        'І' => 'I',
        'Ј' => 'J',
        'Ѕ' => 'S',
        'Ԁ' => 'D',
        'Ԛ' => 'Q',
        'Ԝ' => 'W',
        // Greek
        'α' => 'a',
        'ο' => 'o',
        'ρ' => 'p',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ε' => 'e',
        'ϲ' => 'c',
        'ϳ' => 'j',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        // Latin oddities
        'ı' => 'i',
        'ɡ' => 'g',
        'ℓ' => 'l',
        // Dashes and minus signs
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => '-',
        other => other,
    }
}

/// Separators that letter-spacing evasion puts between single letters.
fn is_spacing_separator(b: u8) -> bool {
    matches!(b, b' ' | b'.' | b'_' | b'-' | b'\t' | b'*' | b'/')
}

/// Joins letter-spaced runs: inside each given range of `text` (found by the scanner's
/// spaced-run trigger), separator bytes are dropped, so `i g n o r e  p r e v i o u s`
/// becomes `ignoreprevious` (the injection signatures allow zero-width word gaps).
/// Everything outside the ranges is copied unchanged.
pub fn collapse_spacing<'a>(text: &'a str, runs: &[Range<usize>]) -> Normalized<'a> {
    if runs.is_empty() {
        return Normalized::identity(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len());
    let mut copy = |from: usize, to: usize, drop_separators: bool| {
        for (i, &b) in bytes.iter().enumerate().take(to).skip(from) {
            if !(drop_separators && is_spacing_separator(b)) {
                out.push(b);
                map.push((offset(i), offset(i + 1)));
            }
        }
    };
    let mut pos = 0;
    for run in runs {
        let (start, end) = (run.start.min(bytes.len()), run.end.min(bytes.len()));
        if start < pos {
            continue;
        }
        copy(pos, start, false);
        copy(start, end, true);
        pos = end;
    }
    copy(pos, bytes.len(), false);
    // Only ASCII separator bytes were removed, so the result stays valid UTF-8; a failed
    // conversion (impossible) falls back to the unchanged text.
    match String::from_utf8(out) {
        Ok(s) => Normalized { text: Cow::Owned(s), map: Some(map) },
        Err(_) => Normalized::identity(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_evasions_and_maps_back() {
        let text = "ｉｇ\u{200B}nоrе"; // fullwidth, zero-width, Cyrillic о/е
        let n = normalize(text);
        assert_eq!(n.text(), "ignore");
        assert_eq!(n.original_span(0..6), 0..text.len());
        assert_eq!(&text[n.original_span(2..3)], "n");
    }

    #[test]
    fn ascii_is_identity() {
        assert!(normalize("plain ascii").is_identity());
    }

    #[test]
    fn collapse_joins_runs() {
        let text = "x i g n o r e  p r e v i o u s y";
        let end = text.rfind('s').unwrap() + 1;
        let n = collapse_spacing(text, std::slice::from_ref(&(2..end)));
        assert_eq!(n.text(), "x ignoreprevious y");
        assert_eq!(&text[n.original_span(2..16)], "i g n o r e  p r e v i o u s");
    }
}
