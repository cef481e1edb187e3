//! Byte-class bitmaps: for every 64 bytes of a text, one `u64` per class the locators ask
//! about (letter, digit, spacing separator, base64/hex alphabet, colon, word byte), bit `i` for byte
//! `i` of the block.
//!
//! Why: the locators (digit positions, letter-spaced stretches, encoded runs, IPv6 colon
//! runs) each walked the text a byte or a probe at a time, with a table load and a
//! data-dependent branch per step; on agent traffic (code, logs) the branches mispredict
//! and those walks cost about a third of a tool result's scan. One vectorized pass now
//! classifies 16 bytes per instruction (SSE2, the x86-64 baseline, through pulp's safe
//! wrappers; a byte-table loop elsewhere), and the locators work on whole words: a block
//! where nothing can start is skipped with a few bit operations.

/// The classes of 64 bytes (`bytes[64 * i .. 64 * i + 64]` for block `i`); bits past the
/// end of the text are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Block {
    /// `[A-Za-z]`
    pub letter: u64,
    /// `[0-9]`
    pub digit: u64,
    /// The separators letter-spacing evasion puts between single letters (the spaced-run
    /// trigger's `[ ._\-*/]`).
    pub spacing: u64,
    /// The base64/hex alphabet of the encoded-run trigger (`[A-Za-z0-9+/_\-]`).
    pub encoded: u64,
    /// `:`
    pub colon: u64,
    /// ASCII word bytes, `[A-Za-z0-9_]` (what `(?-u:\b)` looks at).
    pub word: u64,
}

/// A text's byte classes, one [`Block`] per 64 bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ByteClasses {
    blocks: Vec<Block>,
    len: usize,
}

impl ByteClasses {
    pub(crate) fn new(text: &[u8]) -> ByteClasses {
        let mut blocks = Vec::with_capacity(text.len().div_ceil(64));
        let mut chunks = text.chunks_exact(64);
        for chunk in &mut chunks {
            blocks.push(classify(chunk));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // NUL is in no class, so the padding sets no bit.
            let mut padded = [0u8; 64];
            padded[..rest.len()].copy_from_slice(rest);
            blocks.push(classify(&padded));
        }
        ByteClasses { blocks, len: text.len() }
    }

    /// Length of the text in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Class word `class` of block `index`; zero past the end.
    pub(crate) fn word(&self, index: usize, class: fn(&Block) -> u64) -> u64 {
        self.blocks.get(index).map_or(0, class)
    }

    /// Whether byte `at` is in `class` (false past the end).
    pub(crate) fn has(&self, at: usize, class: fn(&Block) -> u64) -> bool {
        self.word(at / 64, class) >> (at % 64) & 1 == 1
    }
}

/// Classes of one 64-byte block.
fn classify(chunk: &[u8]) -> Block {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V1::try_new() {
        return sse2::classify(simd, chunk);
    }
    classify_scalar(chunk)
}

const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const SPACING: u8 = 4;
const ENCODED: u8 = 8;
const COLON: u8 = 16;
const WORD: u8 = 32;

/// Every byte's classes, for the scalar path.
const TABLE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c.is_ascii_alphabetic() {
            class |= LETTER;
        }
        if c.is_ascii_digit() {
            class |= DIGIT;
        }
        if matches!(c, b' ' | b'.' | b'_' | b'-' | b'*' | b'/') {
            class |= SPACING;
        }
        if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_' | b'-') {
            class |= ENCODED;
        }
        if c == b':' {
            class |= COLON;
        }
        if c.is_ascii_alphanumeric() || c == b'_' {
            class |= WORD;
        }
        t[b] = class;
        b += 1;
    }
    t
};

fn classify_scalar(chunk: &[u8]) -> Block {
    let mut block = Block::default();
    for (i, &b) in chunk.iter().enumerate().take(64) {
        let class = TABLE[b as usize];
        let bit = |c: u8| u64::from(class & c != 0) << i;
        block.letter |= bit(LETTER);
        block.digit |= bit(DIGIT);
        block.spacing |= bit(SPACING);
        block.encoded |= bit(ENCODED);
        block.colon |= bit(COLON);
        block.word |= bit(WORD);
    }
    block
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use pulp::x86::V1;
    use pulp::{m8x16, u8x16};

    use super::Block;

    /// `lo <= v <= hi` per byte, unsigned: `v - lo` (wrapping) is at most `hi - lo`.
    #[inline(always)]
    fn in_range(simd: V1, v: u8x16, lo: u8, hi: u8) -> m8x16 {
        let shifted = simd.wrapping_sub_u8x16(v, simd.splat_u8x16(lo));
        simd.cmp_eq_u8x16(simd.min_u8x16(shifted, simd.splat_u8x16(hi - lo)), shifted)
    }

    #[inline(always)]
    fn bits(simd: V1, mask: m8x16) -> u64 {
        u64::from(simd.sse2._mm_movemask_epi8(pulp::cast(mask)) as u16)
    }

    #[inline(always)]
    pub(super) fn classify(simd: V1, chunk: &[u8]) -> Block {
        let mut block = Block::default();
        for (lane, bytes) in chunk.chunks_exact(16).enumerate().take(4) {
            let mut array = [0u8; 16];
            array.copy_from_slice(bytes);
            let v: u8x16 = pulp::cast(array);
            let is = |c: u8| simd.cmp_eq_u8x16(v, simd.splat_u8x16(c));
            let or = |a: m8x16, b: m8x16| simd.or_m8x16(a, b);
            // `| 0x20` lowercases ASCII letters and maps no other byte into `a..=z`.
            let letter = in_range(simd, simd.or_u8x16(v, simd.splat_u8x16(0x20)), b'a', b'z');
            let digit = in_range(simd, v, b'0', b'9');
            let underscore = is(b'_');
            let alphanumeric = or(letter, digit);
            let dash_underscore_slash = or(or(is(b'-'), underscore), is(b'/'));
            let spacing = or(or(dash_underscore_slash, or(is(b' '), is(b'.'))), is(b'*'));
            let encoded = or(alphanumeric, or(dash_underscore_slash, is(b'+')));
            let shift = lane * 16;
            block.letter |= bits(simd, letter) << shift;
            block.digit |= bits(simd, digit) << shift;
            block.spacing |= bits(simd, spacing) << shift;
            block.encoded |= bits(simd, encoded) << shift;
            block.colon |= bits(simd, is(b':')) << shift;
            block.word |= bits(simd, or(alphanumeric, underscore)) << shift;
        }
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_and_scalar_paths_agree_on_every_byte() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for chunk in all.chunks(64) {
            let mut padded = [0u8; 64];
            padded[..chunk.len()].copy_from_slice(chunk);
            assert_eq!(classify(&padded), classify_scalar(&padded));
        }
    }

    proptest::proptest! {
        #[test]
        fn bits_are_the_bytes_classes(text in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let classes = ByteClasses::new(&text);
            proptest::prop_assert_eq!(classes.blocks().len(), text.len().div_ceil(64));
            for (i, &b) in text.iter().enumerate() {
                proptest::prop_assert_eq!(classes.has(i, |k| k.letter), b.is_ascii_alphabetic());
                proptest::prop_assert_eq!(classes.has(i, |k| k.digit), b.is_ascii_digit());
                proptest::prop_assert_eq!(classes.has(i, |k| k.spacing), b" ._-*/".contains(&b));
                proptest::prop_assert_eq!(classes.has(i, |k| k.encoded), b.is_ascii_alphanumeric() || b"+/_-".contains(&b));
                proptest::prop_assert_eq!(classes.has(i, |k| k.colon), b == b':');
                proptest::prop_assert_eq!(classes.has(i, |k| k.word), b.is_ascii_alphanumeric() || b == b'_');
            }
            for class in [|k: &Block| k.letter, |k: &Block| k.digit, |k: &Block| k.encoded] {
                proptest::prop_assert!(!classes.has(text.len(), class));
            }
        }
    }
}
