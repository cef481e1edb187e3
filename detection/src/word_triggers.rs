//! Word-start candidates for patterns that begin at an ASCII word boundary with a word
//! from a known list (`\bignore`, `\b(?:print|reveal|…)`, `\bif\s*you\s*are`): the
//! injection and jailbreak phrases.
//!
//! Why: the regex crate's prefilter for such a pattern searches its leading words
//! anywhere, and the short ones (`ai`, `if`, `no`, `act`, `do`) occur inside ordinary
//! words every few bytes (`said`, `exact`, `done`), so each occurrence paid a DFA
//! confirmation: the four phrase detectors were a third of a tool result's scan. Here
//! the text's word starts come from its byte-class bitmaps, a table keyed by a word's
//! first two bytes says which detectors have a leading word that begins so, the
//! detector's leading words are compared there, and only then does its regex run,
//! anchored at that word start.
//!
//! Exactness: a detector qualifies only when every match of its pattern (as run on the
//! lowercased view) starts where `(?-u:\b)` holds (regex-syntax's prefix look-around
//! set) and begins with one of a finite set of prefix literals (regex-syntax's literal
//! extractor), each starting with an ASCII lowercase letter. A match therefore starts at
//! a letter preceded by a non-word byte (or at the text start), i.e. at a word start,
//! with one of those literals. Searching anchored at each such candidate in order,
//! resuming after each match, yields the leftmost-first, non-overlapping matches that
//! `find_iter` yields: the first candidate that matches is the leftmost match, and an
//! anchored leftmost-first search picks the same end an unanchored one picks for that
//! start.

use regex_syntax::hir::Look;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

use crate::classes::ByteClasses;

/// Second-byte buckets: `a..=z`, then every other byte.
const SECOND: usize = 27;
/// First byte `a..=z` times the second-byte buckets.
const BUCKETS: usize = 26 * SECOND;

/// The detectors that qualify (see the module docs), and their leading words by first
/// two bytes.
#[derive(Debug)]
pub(crate) struct WordTriggers {
    /// Bit `i`: detector `i` qualifies.
    qualified: u64,
    /// `words[spans[first * SECOND + second]]`: the leading words that begin with those
    /// two bytes (a one-byte word is in every bucket of its first byte). Flat, so the
    /// common case (no word begins so) is ruled out by `pairs` first.
    spans: Vec<(u16, u16)>,
    words: Vec<Word>,
    /// `pairs[first] >> bucket(second) & 1`: some leading word begins with those two
    /// bytes (the same buckets as `spans`, as bits, indexed by the raw first byte so the
    /// hot loop needs no range check or branch).
    pairs: [u32; 256],
}

/// A leading word's first (up to) eight bytes as a little-endian word and the mask of
/// its bytes, with its detector's bit. Longer words are cut to eight bytes: still a
/// necessary condition, and one compare.
#[derive(Debug, Clone, Copy)]
struct Word {
    detector: u64,
    value: u64,
    mask: u64,
}

impl WordTriggers {
    /// `patterns[i]`: detector `i`'s pattern as it runs on the lowercased view, or `None`
    /// when it runs on the text as written (then it does not qualify).
    pub(crate) fn new(patterns: &[Option<&str>]) -> WordTriggers {
        let mut qualified = 0;
        let mut table: Vec<Vec<Word>> = vec![Vec::new(); BUCKETS];
        for (idx, pattern) in patterns.iter().enumerate().take(64) {
            let Some(literals) = pattern.and_then(leading_literals) else { continue };
            qualified |= 1 << idx;
            for lit in literals {
                let Some(first) = lit.first().map(|b| usize::from(b - b'a')) else { continue };
                let seconds = match lit.get(1) {
                    Some(&b) => bucket(b)..bucket(b) + 1,
                    None => 0..SECOND,
                };
                let (value, len) = (load(&lit), lit.len().min(8));
                let mask = if len == 8 { u64::MAX } else { (1u64 << (8 * len)) - 1 };
                for second in seconds {
                    if let Some(slot) = table.get_mut(first * SECOND + second) {
                        slot.push(Word { detector: 1 << idx, value, mask });
                    }
                }
            }
        }
        let (mut spans, mut words) = (Vec::with_capacity(BUCKETS), Vec::new());
        let mut pairs = [0u32; 256];
        for (index, bucket) in table.into_iter().enumerate() {
            if !bucket.is_empty() {
                pairs[usize::from(b'a') + index / SECOND] |= 1 << (index % SECOND);
            }
            let start = u16::try_from(words.len()).unwrap_or(u16::MAX);
            words.extend(bucket);
            spans.push((start, u16::try_from(words.len()).unwrap_or(u16::MAX)));
        }
        WordTriggers { qualified, spans, words, pairs }
    }

    /// Whether detector `idx` runs on word-start candidates.
    pub(crate) fn applies(&self, idx: usize) -> bool {
        idx < 64 && self.qualified & 1 << idx != 0
    }

    /// Every word start of `lower` (the lowercased text `classes` describes) where a
    /// qualifying detector's leading word begins, with the bits of those detectors.
    pub(crate) fn candidates(&self, lower: &[u8], classes: &ByteClasses) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut previous_word = 0u64; // bit 63: the byte before this block is a word byte
        // Word starts whose first two bytes begin some leading word, per block. Most word
        // starts begin none (`th`, `to`, `co`), and which do follows the text, so they are
        // kept branch-free (every start is written, the count advances by the test) and
        // only the kept ones pay the lookups and compares below.
        let mut kept = [0u32; 64];
        for (index, block) in classes.blocks().iter().enumerate() {
            let starts = block.letter & !(block.word << 1 | previous_word >> 63);
            previous_word = block.word;
            let mut bits = starts;
            let mut n = 0usize;
            while bits != 0 {
                let at = index * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let first = lower.get(at).copied().unwrap_or(0);
                let second = lower.get(at + 1).copied().unwrap_or(0);
                let hit = self.pairs[usize::from(first)] >> bucket(second) & 1;
                kept[n & 63] = u32::try_from(at).unwrap_or(u32::MAX);
                n += hit as usize;
            }
            for &at in kept.iter().take(n) {
                let at = at as usize;
                let next = load(lower.get(at..).unwrap_or_default());
                let (first, second) = (next as u8, (next >> 8) as u8);
                let slot = usize::from(first.wrapping_sub(b'a')) * SECOND + bucket(second);
                let Some(&(start, end)) = self.spans.get(slot) else { continue };
                let words = self.words.get(usize::from(start)..usize::from(end)).unwrap_or_default();
                let mask = words.iter().filter(|w| next & w.mask == w.value).fold(0, |m, w| m | w.detector);
                if mask != 0 {
                    out.push((u32::try_from(at).unwrap_or(u32::MAX), mask));
                }
            }
        }
        out
    }
}

/// Every byte's second-byte bucket (`a..=z` is `0..26`, any other byte the last one): the
/// one definition that [`bucket`] and the hot loop both read.
const SECOND_BUCKET: [u8; 256] = {
    let mut table = [(SECOND - 1) as u8; 256];
    let mut b = b'a';
    while b <= b'z' {
        table[b as usize] = b - b'a';
        b += 1;
    }
    table
};

/// The first (up to) eight bytes of `bytes`, little-endian, zero-padded.
fn load(bytes: &[u8]) -> u64 {
    if let Some(first) = bytes.first_chunk::<8>() {
        return u64::from_le_bytes(*first);
    }
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(word)
}

/// A second byte's bucket: `a..=z`, then every other byte ([`SECOND_BUCKET`]).
fn bucket(b: u8) -> usize {
    usize::from(SECOND_BUCKET[usize::from(b)])
}

/// The prefix literals of `pattern` when every match starts at an ASCII word boundary
/// with one of them and each begins with an ASCII lowercase letter; a literal that
/// another one begins is left out (it adds no candidate).
fn leading_literals(pattern: &str) -> Option<Vec<Box<[u8]>>> {
    let hir = regex_syntax::ParserBuilder::new().utf8(false).build().parse(pattern).ok()?;
    if !hir.properties().look_set_prefix().contains(Look::WordAscii) {
        return None;
    }
    let mut extractor = Extractor::new();
    // Classes are not expanded: `\s*` after a word ends the literal instead of making
    // six variants of it (the regex confirms the rest).
    extractor.kind(ExtractKind::Prefix).limit_class(1);
    let seq = extractor.extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.iter().any(|l| !l.as_bytes().first().is_some_and(u8::is_ascii_lowercase)) {
        return None;
    }
    let mut words: Vec<&[u8]> = literals.iter().map(|l| &l.as_bytes()[..l.len().min(8)]).collect();
    words.sort_unstable();
    words.dedup();
    // Sorted, a word's shortest prefix in the set comes before it.
    let mut kept: Vec<Box<[u8]>> = Vec::new();
    for w in words {
        if !kept.last().is_some_and(|k| w.starts_with(k)) {
            kept.push(Box::from(w));
        }
    }
    Some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_word_bounded_lowercase_word_lists_qualify() {
        let t = WordTriggers::new(&[
            Some(r"(?-u)(?-u:\b)(?:ignore|if\s*you)\s*previous"),
            Some(r"(?-u)(?:password|secret)="),       // no word boundary
            Some(r"(?-u)(?-u:\b)[0-9]{3}"),           // starts with a digit
            None,                                     // runs on the text as written
            Some(r"(?-u)(?-u:\b)ignore|(?-u)forget"), // one alternative without `\b`
        ]);
        assert!(t.applies(0));
        assert!(!t.applies(1) && !t.applies(2) && !t.applies(3) && !t.applies(4));
        let text = "if you ignore, ifyou, xignore and _ignore; ig";
        let classes = ByteClasses::new(text.as_bytes());
        let at: Vec<(u32, u64)> = t.candidates(text.as_bytes(), &classes);
        assert_eq!(at, vec![(0, 1), (7, 1), (15, 1)]);
    }
}
