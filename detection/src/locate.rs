//! Cheap, exact candidate finders: where in a text a detector (or a trigger) can match.
//!
//! The scanner used to run one `RegexSet` over every byte; a lazy DFA is bound by memory
//! latency (~5 cycles a byte). These finders work on the text's byte-class bitmaps
//! ([`ByteClasses`], 64 bytes a word) and return the few regions the regexes then
//! search. Each is a
//! *necessary* condition for its pattern, so searching only the returned regions finds
//! exactly what a full search would (the regexes see the whole text as context, so `\b`
//! at a region edge behaves as before).

use std::ops::Range;

use crate::classes::ByteClasses;

/// Byte positions of the ASCII digits of the text `classes` describes.
pub(crate) fn digit_positions(classes: &ByteClasses) -> Vec<u32> {
    let mut out = Vec::new();
    for (index, block) in classes.blocks().iter().enumerate() {
        let mut digits = block.digit;
        while digits != 0 {
            out.push(offset(index * 64 + digits.trailing_zeros() as usize));
            digits &= digits - 1;
        }
    }
    out
}

/// The first position in `from..len` whose bit is set in `word(w)` (word `w` holds the
/// bits of bytes `64 * w .. 64 * w + 64`).
fn next_set(len: usize, from: usize, word: impl Fn(usize) -> u64) -> Option<usize> {
    let words = len.div_ceil(64);
    let mut index = from / 64;
    if index >= words {
        return None;
    }
    let mut bits = word(index) & (u64::MAX << (from % 64));
    loop {
        if bits != 0 {
            let at = index * 64 + bits.trailing_zeros() as usize;
            return (at < len).then_some(at);
        }
        index += 1;
        if index >= words {
            return None;
        }
        bits = word(index);
    }
}

/// Bit `i` set: bits `i .. i + run` of `word` followed by `next` are all set
/// (`1 <= run <= 64`), by doubling the run each step.
fn run_starts(word: u64, next: u64, run: usize) -> u64 {
    let mut acc = u128::from(word) | u128::from(next) << 64;
    let mut covered = 1;
    while covered < run {
        let step = covered.min(run - covered);
        acc &= acc >> step;
        covered += step;
    }
    acc as u64
}

fn offset(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Whether `bytes[at]` begins an ASCII word: `(?-u:\b)` holds before it.
fn starts_word(bytes: &[u8], at: usize) -> bool {
    at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_')
}

/// Windows that contain every match of a pattern whose matches start with a digit at a
/// word boundary (`(?-u:\b)[0-9]`) and hold at least `min_digits` digits within at most
/// `max_len` bytes. A match's first digit `d` begins a word and has `min_digits - 1` more
/// digits before `d + max_len`, and the match lies within `d ± max_len`. Requiring the
/// word start keeps a long run of digits (or digits inside ids such as `toolu_0123…`)
/// from opening one window over all of it: only its first digit can start a match.
pub(crate) fn digit_windows(text: &str, digits: &[u32], min_digits: usize, max_len: usize) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut out: Vec<Range<usize>> = Vec::new();
    let k = min_digits.max(1);
    for (i, &d) in digits.iter().enumerate() {
        let Some(&last) = digits.get(i + k - 1) else { break };
        let d = d as usize;
        if (last as usize) - d >= max_len || !starts_word(bytes, d) {
            continue;
        }
        push_window(&mut out, text, d.saturating_sub(max_len), d + max_len);
    }
    out
}

/// Windows for phone numbers (see `Locate::Phone`). A match's first digit `d` either
/// follows a `+` and starts 8 digits within 30 bytes (`\+[0-9](?:[ .\-]?[0-9]){7,14}`,
/// `\+1 (415) 555-2671`), or starts the 3-3-4 digit groups of a US number within 14
/// bytes (`(415) 555-2671`, `415-555-2671`; the groups are separated by non-digits, so
/// they are consecutive entries of `digits`: one or two bytes (`) `) between the first
/// and second group, exactly one between the second and third). The match lies in
/// `[d - 1, d + 30)`, a US one in `[d - 1, d + 14)`.
pub(crate) fn phone_windows(text: &str, digits: &[u32]) -> Vec<Range<usize>> {
    const PLUS_DIGITS: usize = 8;
    const MAX_LEN: usize = 30;
    const US_LEN: usize = 14;
    let bytes = text.as_bytes();
    // Byte distance from `digits[i]` to `digits[j]`, if both exist.
    let span = |i: usize, j: usize| Some((*digits.get(j)? - *digits.get(i)?) as usize);
    let mut out: Vec<Range<usize>> = Vec::new();
    for (i, &d) in digits.iter().enumerate() {
        let d = d as usize;
        let plus = d > 0 && bytes[d - 1] == b'+' && span(i, i + PLUS_DIGITS - 1).is_some_and(|s| s < MAX_LEN);
        let us = span(i, i + 9).is_some_and(|s| s < US_LEN)
            && span(i, i + 2) == Some(2)
            && matches!(span(i + 2, i + 3), Some(2 | 3))
            && span(i + 3, i + 5) == Some(2)
            && span(i + 5, i + 6) == Some(2)
            && span(i + 6, i + 9) == Some(3);
        if plus || us {
            push_window(&mut out, text, d.saturating_sub(1), d + if plus { MAX_LEN } else { US_LEN });
        }
    }
    out
}

/// Windows that contain every match of a pattern whose matches hold at least `dots`
/// dots between two digits (`1.2`) within at most `max_len` bytes (IPv4). The dots are
/// found from the digit positions, so prose full of sentence dots costs nothing; a
/// match's first such dot `p` has `dots - 1` more before `p + max_len`, and the match
/// lies within `p ± max_len`.
pub(crate) fn digit_dot_windows(text: &str, digits: &[u32], dots: usize, max_len: usize) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let between: Vec<usize> = digits
        .iter()
        .map(|&d| d as usize + 1)
        .filter(|&p| bytes.get(p) == Some(&b'.') && bytes.get(p + 1).is_some_and(u8::is_ascii_digit))
        .collect();
    let mut out: Vec<Range<usize>> = Vec::new();
    let k = dots.max(1);
    for (i, &p) in between.iter().enumerate() {
        let Some(&last) = between.get(i + k - 1) else { break };
        if last - p >= max_len {
            continue;
        }
        push_window(&mut out, text, p.saturating_sub(max_len), p + max_len);
    }
    out
}

/// Windows for IBAN-shaped matches: they start at two uppercase letters followed by two
/// digits and are at most `max_len` bytes long.
pub(crate) fn iban_windows(text: &str, digits: &[u32], max_len: usize) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut out: Vec<Range<usize>> = Vec::new();
    for pair in digits.windows(2) {
        let (d, next) = (pair[0] as usize, pair[1] as usize);
        if next != d + 1 || d < 2 || !bytes[d - 2].is_ascii_uppercase() || !bytes[d - 1].is_ascii_uppercase() {
            continue;
        }
        push_window(&mut out, text, d - 2, d - 2 + max_len);
    }
    out
}

/// Maximal runs of hex digits and colons that hold at least two colons and a digit: an
/// IPv6 match lies inside one run, and the validator needs a digit.
pub(crate) fn hex_colon_runs(text: &str, classes: &ByteClasses) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let in_run = |b: u8| b == b':' || b.is_ascii_hexdigit();
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut from = 0;
    while let Some(colon) = next_set(bytes.len(), from, |w| classes.word(w, |b| b.colon)) {
        // Every IPv6 match holds two colons with at most four hex digits between them, so
        // a run without such a pair holds no match: only a colon with a partner that close
        // gets its run measured (any pair in a run finds the same maximal run).
        let partner = bytes[colon + 1..].iter().take(5).position(|&b| !b.is_ascii_hexdigit()).map(|i| colon + 1 + i);
        if partner.is_none_or(|p| bytes[p] != b':') {
            from = colon + 1;
            continue;
        }
        let start = bytes[..colon].iter().rposition(|&b| !in_run(b)).map_or(0, |i| i + 1);
        let end = bytes[colon..].iter().position(|&b| !in_run(b)).map_or(bytes.len(), |i| colon + i);
        let run = &bytes[start..end];
        if run.iter().filter(|&&b| b == b':').count() >= 2 && run.iter().any(u8::is_ascii_digit) {
            out.push(start..end);
        }
        from = end.max(colon + 1);
    }
    out
}

/// Runs of at least `min_len` encoded-alphabet bytes, each followed by up to two `=`:
/// exactly the matches of `[A-Za-z0-9+/_\-]{min_len,}={0,2}`. Whole words of the bitmap
/// are ruled out at once: a run can start only where `min_len` (at most 64) consecutive
/// alphabet bits are set.
pub(crate) fn encoded_runs(text: &str, classes: &ByteClasses, min_len: usize) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let len = bytes.len().min(classes.len());
    let min_len = min_len.max(1);
    let probe = min_len.min(64);
    let encoded = |w: usize| classes.word(w, |b| b.encoded);
    let mut out = Vec::new();
    // Invariant: no qualifying run starts before `pos` (other than those already output).
    let mut pos = 0;
    while let Some(start) = next_set(len, pos, |w| run_starts(encoded(w), encoded(w + 1), probe)) {
        // `start` is the first byte of its run: the byte before is outside the alphabet
        // (it would start a probe-long run too), or is before `pos`.
        let end = next_set(len, start + probe, |w| !encoded(w)).unwrap_or(len);
        if end - start >= min_len {
            let pad = bytes[end..].iter().take(2).take_while(|&&b| b == b'=').count();
            out.push(start..end + pad);
            pos = end + pad;
        } else {
            pos = end + 1;
        }
    }
    out
}

/// Regions that can hold a letter-spaced run (`i g n o r e`): maximal stretches of
/// letters and spacing separators with no two letters adjacent, holding at least
/// `min_letters` letters. Every match of the spaced-run trigger lies inside one.
///
/// A stretch with `min_letters` letters is at least `2 * min_letters - 1` bytes long and
/// all but its last byte are "ok" (a letter or separator, not a letter followed by a
/// letter). Most text has adjacent letters every few bytes, so the bitmap of ok bytes
/// rarely holds that many in a row and whole words are ruled out at once.
pub(crate) fn spaced_regions(text: &str, classes: &ByteClasses, min_letters: usize) -> Vec<Range<usize>> {
    let n = text.len().min(classes.len());
    let letter = |i: usize| classes.has(i, |b| b.letter);
    let alpha = |i: usize| classes.has(i, |b| b.letter | b.spacing);
    let ok = |i: usize| alpha(i) && !(letter(i) && letter(i + 1));
    let blocks = classes.blocks();
    // The ok bits of block `w`: its letters, and the next block's first byte for its last.
    let ok_word = |w: usize| {
        blocks.get(w).map_or(0, |block| {
            let next_letter = block.letter >> 1 | blocks.get(w + 1).map_or(0, |next| next.letter & 1) << 63;
            (block.letter | block.spacing) & !(block.letter & next_letter)
        })
    };
    // Bytes at the start of a qualifying stretch that must all be ok.
    let need = (2 * min_letters.max(1)).saturating_sub(2).max(1);
    let probe = need.min(64);
    let mut out = Vec::new();
    // No qualifying stretch starts before `pos` other than those already output.
    let mut pos = 0;
    // One pass over the blocks, each block's ok bits computed once and carried to the next.
    let mut next_ok = ok_word(0);
    for w in 0..blocks.len() {
        let this_ok = next_ok;
        next_ok = ok_word(w + 1);
        if this_ok == 0 || (w + 1) * 64 <= pos {
            continue;
        }
        // Only at letters: a qualifying stretch's first letter is followed by `need` ok
        // bytes too (its letters and the separators between them), so nothing is missed,
        // and a run of separators alone (code indentation, `| --- |` table rules) is not
        // a candidate widened byte by byte only to hold no letter.
        let letters = blocks.get(w).map_or(0, |block| block.letter);
        let mut starts = run_starts(this_ok, next_ok, probe) & letters;
        while starts != 0 {
            let first = w * 64 + starts.trailing_zeros() as usize;
            starts &= starts - 1;
            if first < pos {
                continue;
            }
            if first + need > n {
                return out;
            }
            if let Some(bad) = (first + probe..first + need).find(|&i| !ok(i)) {
                pos = bad + 1;
                continue;
            }
            // A candidate: widen to the whole stretch and count its letters.
            let mut start = first;
            while start > 0 && alpha(start - 1) && !(letter(start - 1) && letter(start)) {
                start -= 1;
            }
            let mut end = first;
            while end < n && alpha(end) && !(end > start && letter(end - 1) && letter(end)) {
                end += 1;
            }
            if (start..end).filter(|&i| letter(i)).count() >= min_letters {
                out.push(start..end);
            }
            pos = end.max(pos + 1);
        }
    }
    out
}

/// Appends `[from, to)` (clamped to the text, widened to character boundaries), merging
/// it into the previous window when they touch. Windows are pushed in ascending order.
fn push_window(out: &mut Vec<Range<usize>>, text: &str, from: usize, to: usize) {
    let mut from = from.min(text.len());
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = to.min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    match out.last_mut() {
        Some(last) if from <= last.end => last.end = last.end.max(to),
        _ => out.push(from..to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(text: &str) -> ByteClasses {
        ByteClasses::new(text.as_bytes())
    }

    #[test]
    fn finds_digits_across_words() {
        let text = "ab1cdefgh23ij\u{e9}4567890x9";
        let want: Vec<u32> =
            text.bytes().enumerate().filter(|(_, b)| b.is_ascii_digit()).map(|(i, _)| i as u32).collect();
        assert_eq!(digit_positions(&classes(text)), want);
        // Bytes >= 0x80 whose low 7 bits look like digits are not digits.
        assert!(digit_positions(&ByteClasses::new(&[0xB0, 0xB5, 0xB9, 0x2F, 0x3A, 0xBA, 0xAF, 0x30])).eq(&[7]));
    }

    #[test]
    fn encoded_runs_match_the_regex() {
        let re = regex::Regex::new(r"[A-Za-z0-9+/_\-]{24,}={0,2}").unwrap();
        for text in [
            "short aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ= and /usr/local/lib/python3/site-packages x",
            "aaaaaaaaaaaaaaaaaaaaaaa b aaaaaaaaaaaaaaaaaaaaaaaa===",
            "aaaaaaaaaaaaaaaaaaaaaaaa",
            "\u{e9}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\u{e9}bbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "",
        ] {
            let want: Vec<Range<usize>> = re.find_iter(text).map(|m| m.range()).collect();
            assert_eq!(encoded_runs(text, &classes(text), 24), want, "{text}");
        }
    }

    #[test]
    fn windows_cover_dense_digits_only() {
        let text = "call 555-123-4567 now, version 1.2 only";
        let digits = digit_positions(&classes(text));
        let w = digit_windows(text, &digits, 8, 30);
        assert_eq!(w.len(), 1);
        assert!(w[0].start <= 5 && w[0].end >= 17);
        assert!(digit_windows(text, &digits, 13, 37).is_empty());
        let text = "IBAN DE89370400440532013000 here";
        let digits = digit_positions(&classes(text));
        assert_eq!(iban_windows(text, &digits, 43), vec![5..text.len()]);
    }

    #[test]
    fn digit_dot_windows_skip_dates_ids_and_versions() {
        let text = "on 2026-11-04, toolu_0003 v1.89.0 at 127.0.0.1:8080 and 6.8.0-45";
        let windows = digit_dot_windows(text, &digit_positions(&classes(text)), 3, 15);
        assert_eq!(windows.len(), 1);
        assert!(text[windows[0].clone()].contains("127.0.0.1"));
    }

    #[test]
    fn phone_windows_skip_versions_and_addresses() {
        let text = "call +44 20 7946 0958, (415) 555-2671 or 415.555.2671; not 127.0.0.1:8080 or 2026-11-04";
        let windows = phone_windows(text, &digit_positions(&classes(text)));
        let covered: Vec<&str> = windows.iter().map(|w| &text[w.clone()]).collect();
        for phone in ["+44 20 7946 0958", "(415) 555-2671", "415.555.2671"] {
            assert!(covered.iter().any(|c| c.contains(phone)), "{phone} in {covered:?}");
        }
        assert!(covered.iter().all(|c| !c.contains("127.0.0.1") && !c.contains("2026")), "{covered:?}");
    }

    #[test]
    fn hex_colon_runs_need_two_colons_and_a_digit() {
        let text = "std::io at fe80::1 and a:b:c and 10:30 and 12:34567:8 but 1:2345:6";
        let runs: Vec<&str> = hex_colon_runs(text, &classes(text)).into_iter().map(|r| &text[r]).collect();
        // `12:34567:8` has no two colons four or fewer hex digits apart: no IPv6 inside.
        assert_eq!(runs, vec!["fe80::1", "1:2345:6"]);
    }

    /// Reference for `spaced_regions`: classify every byte.
    fn reference(text: &str, min_letters: usize) -> Vec<Range<usize>> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let (mut start, mut letters, mut prev_letter) = (0, 0, false);
        for (i, &b) in bytes.iter().enumerate() {
            let letter = b.is_ascii_alphabetic();
            if letter && !prev_letter {
                letters += 1;
            } else if !(letter || matches!(b, b' ' | b'.' | b'_' | b'-' | b'*' | b'/')) || (letter && prev_letter) {
                if letters >= min_letters {
                    out.push(start..i);
                }
                start = if letter { i } else { i + 1 };
                letters = usize::from(letter);
            }
            prev_letter = letter;
        }
        if letters >= min_letters {
            out.push(start..bytes.len());
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn locators_match_their_references(text in "[ab1 ._=:+/\\-]{0,200}") {
            proptest::prop_assert_eq!(spaced_regions(&text, &classes(&text), 4), reference(&text, 4));
            let re = regex::Regex::new(r"[A-Za-z0-9+/_\-]{4,}={0,2}").unwrap();
            let want: Vec<Range<usize>> = re.find_iter(&text).map(|m| m.range()).collect();
            proptest::prop_assert_eq!(encoded_runs(&text, &classes(&text), 4), want);
            let want: Vec<u32> = text.bytes().enumerate().filter(|(_, b)| b.is_ascii_digit()).map(|(i, _)| i as u32).collect();
            proptest::prop_assert_eq!(digit_positions(&classes(&text)), want);
            // Every IPv6-shaped match with a digit lies inside a hex/colon run.
            let runs = hex_colon_runs(&text, &classes(&text));
            let ipv6 = regex::Regex::new(r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}").unwrap();
            for m in ipv6.find_iter(&text).filter(|m| m.as_str().bytes().any(|b| b.is_ascii_digit())) {
                proptest::prop_assert!(runs.iter().any(|r| r.start <= m.start() && m.end() <= r.end), "{:?}", m);
            }
        }
    }

    /// The catalogue's pattern for detector `id`.
    fn catalogue_pattern(id: &str) -> regex::Regex {
        regex::Regex::new(crate::catalogue::detectors().iter().find(|d| d.id == id).unwrap().pattern).unwrap()
    }

    /// A match of `pattern` (searched from every start, so overlapping shapes count too)
    /// that lies in none of `windows`; a locator must leave none.
    fn match_outside(pattern: &regex::Regex, text: &str, windows: &[Range<usize>]) -> Option<Range<usize>> {
        (0..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .filter_map(|start| pattern.find_at(text, start))
            .map(|m| m.range())
            .find(|m| !windows.iter().any(|w| w.start <= m.start && m.end <= w.end))
    }

    proptest::proptest! {
        #[test]
        // Phone-shaped text with random separators and lengths, so that matches and near
        // misses are frequent.
        fn phone_matches_lie_in_phone_windows(text in "(a|[ .\\-]|[0-9]{1,2})?([+]1?[ .\\-]?)?([(][2-9][0-9]{2}[)] ?|[2-9][0-9]{2}[ .\\-]?)[0-9]{1,3}[ .\\-]?[0-9]{1,6}([ .\\-]?[0-9]{1,3}){0,3}(a| |[.][0-9]|\u{e9})?") {
            let windows = phone_windows(&text, &digit_positions(&classes(&text)));
            proptest::prop_assert_eq!(match_outside(&catalogue_pattern("pii.phone"), &text, &windows), None);
        }

        #[test]
        fn ipv4_shapes_lie_in_digit_dot_windows(text in "([0-9]{1,4}|[.]{1,2}|[a :\u{e9}]){0,40}") {
            let windows = digit_dot_windows(&text, &digit_positions(&classes(&text)), 3, 15);
            let ipv4 = regex::Regex::new(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}").unwrap();
            proptest::prop_assert_eq!(match_outside(&ipv4, &text, &windows), None);
        }

        #[test]
        // Digit groups glued to letters, `_`, separators and non-ASCII text: every SSN- or
        // card-shaped match (from any start) lies in a digit window that begins a word.
        fn ssn_and_card_matches_lie_in_digit_windows(text in "([0-9]{1,6}|[ \\-]|[a_\u{e9}]){0,40}") {
            let digits = digit_positions(&classes(&text));
            for (id, min_digits, max_len) in [("pii.us_ssn", 9, 11), ("pii.credit_card", 13, 37)] {
                let windows = digit_windows(&text, &digits, min_digits, max_len);
                proptest::prop_assert_eq!(match_outside(&catalogue_pattern(id), &text, &windows), None, "{}", id);
            }
        }
    }

    #[test]
    fn a_long_run_of_digits_opens_one_small_window_at_its_start() {
        let text = "x ".to_string() + &"1234567890".repeat(1000) + " y";
        let digits = digit_positions(&classes(&text));
        assert_eq!(digit_windows(&text, &digits, 13, 37), vec![0..39]);
        assert!(phone_windows(&text, &digits).is_empty());
        let ids = "toolu_0123456789012345 and 4111 1111 1111 1111";
        let windows = digit_windows(ids, &digit_positions(&classes(ids)), 13, 37);
        assert_eq!(windows.len(), 1);
        assert!(ids[windows[0].clone()].contains("4111 1111 1111 1111"));
    }

    #[test]
    fn spaced_regions_match_a_byte_by_byte_scan() {
        for text in [
            "i g n o r e",
            "please i g n o r e all, and x.y",
            "a b c",
            "ab c d e f",
            "x-y-z-w and i_g_n_o_r_e__p_r_e_v_i_o_u_s then a  b  c  d.",
            "\u{e9} a b c d \u{e9}",
            "plain prose without any spaced letters at all, just words.",
            "a b c d",
            "ab",
            "",
        ] {
            assert_eq!(spaced_regions(text, &classes(text), 4), reference(text, 4), "{text:?}");
        }
    }

    #[test]
    fn spaced_regions_hold_letter_spaced_runs() {
        let text = "please i g n o r e all, and x.y";
        let regions: Vec<&str> = spaced_regions(text, &classes(text), 4).into_iter().map(|r| &text[r]).collect();
        assert!(regions.iter().any(|r| r.contains("i g n o r e")), "{regions:?}");
        assert!(regions.iter().all(|r| !r.contains("x.y")));
    }
}
