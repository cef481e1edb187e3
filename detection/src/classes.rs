//! Byte-class bitmaps: for every 64 bytes of a text, one `u64` per class the locators ask
//! about (letter, digit, spacing separator, base64/hex alphabet, colon, word byte), bit `i` for byte
//! `i` of the block.
//!
//! Why: the locators (digit positions, letter-spaced stretches, encoded runs, IPv6 colon
//! runs) each walked the text a byte or a probe at a time, with a table load and a
//! data-dependent branch per step; on agent traffic (code, logs) the branches mispredict
//! and those walks cost about a third of a tool result's scan. One vectorized pass now
//! classifies the text, and the locators work on whole words: a block where nothing can
//! start is skipped with a few bit operations.
//!
//! The pass uses the widest instructions the CPU has, picked at run time through pulp's
//! safe wrappers: AVX-512BW (on CPUs that run it at full clock) classifies 64 bytes with two byte shuffles (a nibble table
//! lookup, see [`BUCKETS`]) and one test per class straight into a mask register, AVX2 the
//! same on 32 bytes, SSE2 (every x86-64 CPU) with range compares; elsewhere the same
//! nibble tables a byte at a time. On the benchmark's Claude Code body (36 KB of text,
//! 53 segments, Xeon with AVX-512) the pass went from 8.4 µs (SSE2) to 3.0 µs.

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
        BEST_LEVEL.classes(text)
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

// Every byte's classes come from two 16-entry tables, one indexed by its low nibble and
// one by its high nibble (the "shufti" technique: one byte shuffle per table classifies a
// whole vector). Each bit of the tables is a *bucket*, a set of bytes that is a product
// `high nibbles × low nibbles`, so `LOW[b & 15] & HIGH[b >> 4]` has bit `k` exactly when
// `b` is in bucket `k`; a class is a union of buckets.
const LETTERS_A_O: u8 = 1; // 0x41..=0x4f, 0x61..=0x6f: high 4|6, low 1..=15
const LETTERS_P_Z: u8 = 2; // 0x50..=0x5a, 0x70..=0x7a: high 5|7, low 0..=10
const DIGITS: u8 = 4; // high 3, low 0..=9
const COLON: u8 = 8; // high 3, low 10
const UNDERSCORE: u8 = 16; // high 5, low 15
const DASH_SLASH: u8 = 32; // `-` `/`: high 2, low 13|15
const SPACE_STAR_DOT: u8 = 64; // ` ` `*` `.`: high 2, low 0|10|14
const PLUS: u8 = 128; // high 2, low 11

/// Each bucket as (its bit, its high nibbles, its low nibbles).
const BUCKETS: [(u8, &[u8], &[u8]); 8] = [
    (LETTERS_A_O, &[4, 6], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]),
    (LETTERS_P_Z, &[5, 7], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
    (DIGITS, &[3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    (COLON, &[3], &[10]),
    (UNDERSCORE, &[5], &[15]),
    (DASH_SLASH, &[2], &[13, 15]),
    (SPACE_STAR_DOT, &[2], &[0, 10, 14]),
    (PLUS, &[2], &[11]),
];

/// `[A-Za-z]`
const LETTER_BUCKETS: u8 = LETTERS_A_O | LETTERS_P_Z;
/// `[0-9]`
const DIGIT_BUCKETS: u8 = DIGITS;
/// `[ ._\-*/]`
const SPACING_BUCKETS: u8 = UNDERSCORE | DASH_SLASH | SPACE_STAR_DOT;
/// `[A-Za-z0-9+/_\-]`
const ENCODED_BUCKETS: u8 = LETTER_BUCKETS | DIGITS | UNDERSCORE | DASH_SLASH | PLUS;
/// `:`
const COLON_BUCKETS: u8 = COLON;
/// `[A-Za-z0-9_]`
const WORD_BUCKETS: u8 = LETTER_BUCKETS | DIGITS | UNDERSCORE;

/// The bucket bits of each low (`high == false`) or high nibble.
const fn nibble_table(high: bool) -> [u8; 16] {
    let mut table = [0u8; 16];
    let mut b = 0;
    while b < BUCKETS.len() {
        let (bit, highs, lows) = BUCKETS[b];
        let nibbles = if high { highs } else { lows };
        let mut i = 0;
        while i < nibbles.len() {
            table[nibbles[i] as usize] |= bit;
            i += 1;
        }
        b += 1;
    }
    table
}

const LOW: [u8; 16] = nibble_table(false);
const HIGH: [u8; 16] = nibble_table(true);

/// The bucket bits of one byte.
fn buckets(b: u8) -> u8 {
    LOW[usize::from(b & 15)] & HIGH[usize::from(b >> 4)]
}

/// A block from `mask(buckets)`: bit `i` set when byte `i` is in one of `buckets`.
fn block_of(mask: impl Fn(u8) -> u64) -> Block {
    Block {
        letter: mask(LETTER_BUCKETS),
        digit: mask(DIGIT_BUCKETS),
        spacing: mask(SPACING_BUCKETS),
        encoded: mask(ENCODED_BUCKETS),
        colon: mask(COLON_BUCKETS),
        word: mask(WORD_BUCKETS),
    }
}

/// The instruction set a text is classified with: the widest the CPU has, picked once per
/// text, the loop compiled for it (pulp's runtime dispatch, no `unsafe` here).
#[derive(Clone, Copy, Debug)]
enum Level {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Sse2(pulp::x86::V1),
    #[cfg(target_arch = "x86_64")]
    Avx2(pulp::x86::V3),
    #[cfg(target_arch = "x86_64")]
    Avx512(pulp::x86::V4),
}

/// The level every text is classified with, detected once (not per text, on the scan's
/// hot path).
static BEST_LEVEL: std::sync::LazyLock<Level> = std::sync::LazyLock::new(Level::best);

impl Level {
    fn best() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            // AVX-512 only from Ice Lake and Zen 4 on (VBMI2 tells them apart): on
            // Skylake-generation Xeons any 512-bit instruction lowers the core's clock for
            // a while, which would slow everything else the gateway runs on that core.
            if std::arch::is_x86_feature_detected!("avx512vbmi2")
                && let Some(simd) = pulp::x86::V4::try_new()
            {
                return Level::Avx512(simd);
            }
            if let Some(simd) = pulp::x86::V3::try_new() {
                return Level::Avx2(simd);
            }
            if let Some(simd) = pulp::x86::V1::try_new() {
                return Level::Sse2(simd);
            }
        }
        Level::Scalar
    }

    fn classes(self, text: &[u8]) -> ByteClasses {
        let mut blocks = Vec::with_capacity(text.len().div_ceil(64));
        match self {
            Level::Scalar => classify_text(&Scalar, text, &mut blocks),
            #[cfg(target_arch = "x86_64")]
            Level::Sse2(simd) => simd.vectorize(Pass { level: sse2::Sse2(simd), text, out: &mut blocks }),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2(simd) => simd.vectorize(Pass { level: avx2::Avx2(simd), text, out: &mut blocks }),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512(simd) => simd.vectorize(Pass { level: avx512::Avx512(simd), text, out: &mut blocks }),
        }
        ByteClasses { blocks, len: text.len() }
    }
}

/// Classifies 64 bytes at a time.
trait Classify64 {
    fn block(&self, chunk: &[u8; 64]) -> Block;
}

/// One text's classification, run by `vectorize` so the loop is compiled with the
/// level's instructions enabled (a closure would be compiled out of line, without them).
#[cfg(target_arch = "x86_64")]
struct Pass<'a, L> {
    level: L,
    text: &'a [u8],
    out: &'a mut Vec<Block>,
}

#[cfg(target_arch = "x86_64")]
impl<L: Classify64> pulp::NullaryFnOnce for Pass<'_, L> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        classify_text(&self.level, self.text, self.out);
    }
}

#[inline(always)]
fn classify_text(level: &impl Classify64, text: &[u8], out: &mut Vec<Block>) {
    let mut chunks = text.chunks_exact(64);
    for chunk in &mut chunks {
        if let Some(chunk) = chunk.first_chunk::<64>() {
            out.push(level.block(chunk));
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // NUL is in no class, so the padding sets no bit.
        let mut padded = [0u8; 64];
        padded[..rest.len()].copy_from_slice(rest);
        out.push(level.block(&padded));
    }
}

/// A byte at a time, through the nibble tables (any CPU; the reference in the tests).
struct Scalar;

impl Classify64 for Scalar {
    #[inline(always)]
    fn block(&self, chunk: &[u8; 64]) -> Block {
        block_of(|class| chunk.iter().enumerate().fold(0, |m, (i, &b)| m | u64::from(buckets(b) & class != 0) << i))
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    //! SSE2 (every x86-64 CPU) has no byte shuffle, so it compares ranges and bytes.
    use pulp::x86::V1;
    use pulp::{m8x16, u8x16};

    use super::{Block, Classify64};

    pub(super) struct Sse2(pub V1);

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

    impl Classify64 for Sse2 {
        #[inline(always)]
        fn block(&self, chunk: &[u8; 64]) -> Block {
            let simd = self.0;
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
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! 32 bytes per instruction: the nibble tables by `vpshufb`, each class's bits by a
    //! compare and `vpmovmskb`.
    use core::arch::x86_64::__m256i;

    use pulp::x86::V3;

    use super::{
        Block, COLON_BUCKETS, Classify64, DIGIT_BUCKETS, ENCODED_BUCKETS, HIGH, LETTER_BUCKETS, LOW, SPACING_BUCKETS,
        WORD_BUCKETS,
    };

    pub(super) struct Avx2(pub V3);

    /// A 16-byte table in both 128-bit lanes (`vpshufb` looks up within each lane).
    #[inline(always)]
    fn table(t: [u8; 16]) -> __m256i {
        let mut both = [0u8; 32];
        both[..16].copy_from_slice(&t);
        both[16..].copy_from_slice(&t);
        pulp::cast(both)
    }

    /// The bucket bits of 32 bytes.
    #[inline(always)]
    fn buckets(s: V3, bytes: &[u8]) -> __m256i {
        let mut array = [0u8; 32];
        array.copy_from_slice(bytes);
        let v: __m256i = pulp::cast(array);
        let nibble = s.avx._mm256_set1_epi8(0x0f);
        let low = s.avx2._mm256_and_si256(v, nibble);
        let high = s.avx2._mm256_and_si256(s.avx2._mm256_srli_epi16::<4>(v), nibble);
        s.avx2._mm256_and_si256(
            s.avx2._mm256_shuffle_epi8(table(LOW), low),
            s.avx2._mm256_shuffle_epi8(table(HIGH), high),
        )
    }

    /// Bit `i`: byte `i` of the two halves is in one of the buckets `class`.
    #[inline(always)]
    fn mask(s: V3, [low, high]: [__m256i; 2], class: u8) -> u64 {
        let class = s.avx._mm256_set1_epi8(class as i8);
        let zero = s.avx._mm256_setzero_si256();
        let outside_low = s.avx2._mm256_cmpeq_epi8(s.avx2._mm256_and_si256(low, class), zero);
        let outside_high = s.avx2._mm256_cmpeq_epi8(s.avx2._mm256_and_si256(high, class), zero);
        let low_bits = !(s.avx2._mm256_movemask_epi8(outside_low) as u32);
        let high_bits = !(s.avx2._mm256_movemask_epi8(outside_high) as u32);
        u64::from(low_bits) | u64::from(high_bits) << 32
    }

    impl Classify64 for Avx2 {
        #[inline(always)]
        fn block(&self, chunk: &[u8; 64]) -> Block {
            let s = self.0;
            let halves = [buckets(s, &chunk[..32]), buckets(s, &chunk[32..])];
            Block {
                letter: mask(s, halves, LETTER_BUCKETS),
                digit: mask(s, halves, DIGIT_BUCKETS),
                spacing: mask(s, halves, SPACING_BUCKETS),
                encoded: mask(s, halves, ENCODED_BUCKETS),
                colon: mask(s, halves, COLON_BUCKETS),
                word: mask(s, halves, WORD_BUCKETS),
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! 64 bytes per instruction: the nibble tables by `vpshufb`, each class's bits straight
    //! into a mask register by `vptestmb`.
    use core::arch::x86_64::__m512i;

    use pulp::x86::V4;

    use super::{
        Block, COLON_BUCKETS, Classify64, DIGIT_BUCKETS, ENCODED_BUCKETS, HIGH, LETTER_BUCKETS, LOW, SPACING_BUCKETS,
        WORD_BUCKETS,
    };

    pub(super) struct Avx512(pub V4);

    /// A 16-byte table in all four 128-bit lanes (`vpshufb` looks up within each lane).
    #[inline(always)]
    fn table(t: [u8; 16]) -> __m512i {
        let mut all = [0u8; 64];
        for lane in all.chunks_exact_mut(16) {
            lane.copy_from_slice(&t);
        }
        pulp::cast(all)
    }

    /// Bit `i`: byte `i` is in one of the buckets `class`.
    #[inline(always)]
    fn mask(s: V4, buckets: __m512i, class: u8) -> u64 {
        s.avx512bw._mm512_test_epi8_mask(buckets, s.avx512f._mm512_set1_epi8(class as i8))
    }

    impl Classify64 for Avx512 {
        #[inline(always)]
        fn block(&self, chunk: &[u8; 64]) -> Block {
            let s = self.0;
            let nibble = s.avx512f._mm512_set1_epi8(0x0f);
            let v: __m512i = pulp::cast(*chunk);
            let low = s.avx512f._mm512_and_si512(v, nibble);
            let high = s.avx512f._mm512_and_si512(s.avx512bw._mm512_srli_epi16::<4>(v), nibble);
            let buckets = s.avx512f._mm512_and_si512(
                s.avx512bw._mm512_shuffle_epi8(table(LOW), low),
                s.avx512bw._mm512_shuffle_epi8(table(HIGH), high),
            );
            Block {
                letter: mask(s, buckets, LETTER_BUCKETS),
                digit: mask(s, buckets, DIGIT_BUCKETS),
                spacing: mask(s, buckets, SPACING_BUCKETS),
                encoded: mask(s, buckets, ENCODED_BUCKETS),
                colon: mask(s, buckets, COLON_BUCKETS),
                word: mask(s, buckets, WORD_BUCKETS),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every level this CPU has, the scalar one first.
    fn levels() -> Vec<Level> {
        #[allow(unused_mut)]
        let mut levels = vec![Level::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            levels.extend(pulp::x86::V1::try_new().map(Level::Sse2));
            levels.extend(pulp::x86::V3::try_new().map(Level::Avx2));
            levels.extend(pulp::x86::V4::try_new().map(Level::Avx512));
        }
        levels
    }

    #[test]
    fn every_level_agrees_with_the_scalar_one_on_every_byte() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).chain(0..=200).collect();
        let expected = Level::Scalar.classes(&all);
        for level in levels() {
            assert_eq!(level.classes(&all), expected, "{level:?}");
        }
        eprintln!("levels checked: {:?}", levels());
    }

    proptest::proptest! {
        #[test]
        fn bits_are_the_bytes_classes(text in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let classes = ByteClasses::new(&text);
            for level in levels() {
                proptest::prop_assert_eq!(&level.classes(&text), &classes);
            }
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
