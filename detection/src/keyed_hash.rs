//! The cache's keyed 64-bit hash of (tenant, source kind, text): NH over 1 KiB blocks,
//! the block results and the length folded by SipHash-2-4.
//!
//! Every request resends the whole conversation, so every cached segment is hashed again
//! each turn; at turn 100 of the benchmark's replay that is 195 KB of text, and SipHash-1-3
//! over all of it (~3.2 instructions a byte) was three quarters of a cached turn. NH
//! (Black et al., "UMAC: Fast and Secure Message Authentication", CRYPTO 1999; the 64-bit
//! word variant of VMAC) reads 16 bytes per 64x64 -> 128-bit multiply:
//!
//! `NH_K(M) = sum over i of ((m[2i] + k[2i]) mod 2^64) * ((m[2i+1] + k[2i+1]) mod 2^64) mod 2^128`
//!
//! Why it stays collision-resistant for a tenant who does not know the key: for two
//! different blocks of the same length, the probability over a uniformly random key that
//! their NH values are equal is at most 2^-64 (NH with w-bit words is 2^-w-almost-
//! universal, the NH bound of the UMAC paper). The final partial block is zero-padded, and the text's length
//! goes into the outer hash, so padding cannot make texts of different lengths collide.
//! Two different texts of the same length differ in some block: their NH values there
//! are equal with probability at most 2^-64, and otherwise the inputs of the outer
//! SipHash-2-4 differ, a keyed PRF whose 64-bit outputs then collide with probability
//! about 2^-64. Texts of different lengths, tenants or kinds give different SipHash inputs. The
//! keys (a 1 KiB NH key and SipHash's) are random per cache and never leave the process;
//! a collision cannot be steered without them, only guessed, and nothing about the key is
//! observable before a first collision. NH's bound holds for texts chosen without
//! knowledge of the key (NH is no PRF: its raw value would reveal key material), so its
//! value never leaves this module, only the outer SipHash's, and that only as a map key.
//! That is the cache's threat model: a tenant crafting a text whose key equals the key of
//! another cached text, without knowing the per-process key.

use std::hash::{BuildHasher, RandomState};

use crate::segments::SourceKind;

/// NH key length in 64-bit words: one block is 1 KiB of text.
const BLOCK_WORDS: usize = 128;
const BLOCK_BYTES: usize = BLOCK_WORDS * 8;

/// A keyed hash with a fresh random key.
pub(crate) struct KeyedHash {
    nh_key: Box<[u64; BLOCK_WORDS]>,
    outer_key: (u64, u64),
}

impl KeyedHash {
    pub(crate) fn new() -> Self {
        // Both keys are outputs of a SipHash keyed from the OS random source (a PRF).
        let seed = RandomState::new();
        let nh_key = Box::new(std::array::from_fn(|i| seed.hash_one(("portcullis nh key", i))));
        let outer_key = (seed.hash_one(("portcullis outer key", 0)), seed.hash_one(("portcullis outer key", 1)));
        KeyedHash { nh_key, outer_key }
    }

    /// The 64-bit key of `text` from `tenant` as `kind` (see the module docs).
    #[cfg(test)]
    pub(crate) fn hash(&self, tenant: &str, kind: SourceKind, text: &[u8]) -> u64 {
        self.for_tenant(tenant).hash(kind, text)
    }

    /// The outer hash with `tenant` already absorbed, for hashing many segments of one
    /// request: the tenant is written once, not once a segment.
    pub(crate) fn for_tenant(&self, tenant: &str) -> TenantHash<'_> {
        let mut outer = Sip24::new(self.outer_key);
        // Length-prefixed and zero-padded to whole words, so the outer input parses one
        // way only.
        outer.absorb(tenant.len() as u64);
        let (words, rest) = tenant.as_bytes().as_chunks::<8>();
        for word in words {
            outer.absorb(u64::from_le_bytes(*word));
        }
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            outer.absorb(u64::from_le_bytes(last));
        }
        TenantHash { nh_key: &self.nh_key, outer }
    }
}

/// [`KeyedHash`] for one tenant.
pub(crate) struct TenantHash<'k> {
    nh_key: &'k [u64; BLOCK_WORDS],
    outer: Sip24,
}

impl TenantHash<'_> {
    /// The 64-bit key of `text` as `kind` (see the module docs).
    pub(crate) fn hash(&self, kind: SourceKind, text: &[u8]) -> u64 {
        let mut h = self.outer.clone();
        // The text's length and the kind in one word (a text is far below 2^56 bytes),
        // then one NH value (two words) a block.
        h.absorb(((text.len() as u64) << 8) | u64::from(kind as u8));
        for block in text.chunks(BLOCK_BYTES) {
            let value = nh(self.nh_key, block);
            h.absorb(value as u64);
            h.absorb((value >> 64) as u64);
        }
        h.finish()
    }
}

/// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) of a
/// message of whole 64-bit little-endian words, absorbed one at a time.
///
/// Why not `std`'s `DefaultHasher`: it is SipHash-1-3 (meant for hash tables, not as a
/// PRF), its algorithm is unspecified, and its byte-oriented writer made each segment's
/// three words and finish cost ~490 instructions, 70 % of hashing a cached turn of the
/// replay (callgrind). Word by word, a segment costs twelve SipRounds. The result equals
/// reference SipHash-2-4 of the words' bytes (tested against the paper's vectors).
#[derive(Clone)]
struct Sip24 {
    v: [u64; 4],
    words: u64,
}

impl Sip24 {
    fn new((k0, k1): (u64, u64)) -> Self {
        Sip24 {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
            words: 0,
        }
    }

    fn round(&mut self) {
        let [v0, v1, v2, v3] = &mut self.v;
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13) ^ *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16) ^ *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21) ^ *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17) ^ *v2;
        *v2 = v2.rotate_left(32);
    }

    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        self.round();
        self.round();
        self.v[0] ^= m;
    }

    fn absorb(&mut self, word: u64) {
        self.compress(word);
        self.words += 1;
    }

    fn finish(mut self) -> u64 {
        // The last block holds the message length in bytes, mod 256, in its top byte
        // (there are no tail bytes: the message is whole words).
        self.compress(self.words.wrapping_mul(8) << 56);
        self.v[2] ^= 0xff;
        for _ in 0..4 {
            self.round();
        }
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }
}

/// NH of one block of at most [`BLOCK_BYTES`] bytes, zero-padded to 16-byte words.
fn nh(key: &[u64; BLOCK_WORDS], block: &[u8]) -> u128 {
    let pair = |m: [u8; 16], k: &[u64; 2]| {
        let m = u128::from_le_bytes(m);
        u128::from((m as u64).wrapping_add(k[0])) * u128::from(((m >> 64) as u64).wrapping_add(k[1]))
    };
    let (words, rest) = block.as_chunks::<16>();
    let (keys, _) = key.as_chunks::<2>();
    let mut sum = words.iter().zip(keys).fold(0u128, |sum, (m, k)| sum.wrapping_add(pair(*m, k)));
    if let (Some(k), false) = (keys.get(words.len()), rest.is_empty()) {
        let mut padded = [0u8; 16];
        padded[..rest.len()].copy_from_slice(rest);
        sum = sum.wrapping_add(pair(padded, k));
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_input_same_key_and_every_part_counts() {
        let h = KeyedHash::new();
        let text = "x".repeat(3000);
        let k = h.hash("t", SourceKind::ToolResult, text.as_bytes());
        assert_eq!(k, h.hash("t", SourceKind::ToolResult, text.as_bytes()));
        assert_ne!(k, h.hash("u", SourceKind::ToolResult, text.as_bytes()));
        assert_ne!(k, h.hash("t", SourceKind::UserText, text.as_bytes()));
        // A changed byte anywhere: first, last of a block, in the padded tail.
        for at in [0, 15, 16, 1023, 1024, 2047, 2999] {
            let mut changed = text.clone().into_bytes();
            changed[at] = b'y';
            assert_ne!(k, h.hash("t", SourceKind::ToolResult, &changed), "byte {at}");
        }
        // Zero padding does not make a text equal to itself plus zero bytes.
        assert_ne!(h.hash("t", SourceKind::ToolResult, b"abc"), h.hash("t", SourceKind::ToolResult, b"abc\0"));
        assert_ne!(h.hash("t", SourceKind::ToolResult, b""), h.hash("t", SourceKind::ToolResult, b"\0"));
        // Another cache has another key.
        assert_ne!(k, KeyedHash::new().hash("t", SourceKind::ToolResult, text.as_bytes()));
    }

    #[test]
    fn sip24_matches_the_reference_vectors() {
        // The SipHash paper's key 00 01 .. 0f and messages 00 01 .. (n-1), for the
        // whole-word lengths 0, 8, 16 and 24 (vectors 0, 8, 16, 24 of the reference code).
        let key = (u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]), u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]));
        let expected = [0x726f_db47_dd0e_0e31, 0x93f5_f579_9a93_2462, 0x3f2a_cc7f_57c2_9bdb, 0xb8ad_50c6_f649_af94];
        for (words, expected) in expected.into_iter().enumerate() {
            let mut h = Sip24::new(key);
            for w in 0..words {
                let base = (w * 8) as u8;
                h.absorb(u64::from_le_bytes(std::array::from_fn(|i| base + i as u8)));
            }
            assert_eq!(h.finish(), expected, "{} bytes", words * 8);
        }
    }

    #[test]
    fn tenants_are_length_prefixed() {
        let h = KeyedHash::new();
        let text = b"same text";
        let keys: Vec<u64> = ["", "a", "a\0", "abcdefgh", "abcdefgh\0", "abcdefghi"]
            .iter()
            .map(|t| h.hash(t, SourceKind::UserText, text))
            .collect();
        for (i, a) in keys.iter().enumerate() {
            assert!(keys[i + 1..].iter().all(|b| b != a), "{keys:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn different_texts_get_different_keys(
            a in proptest::collection::vec(0u8..4, 0..2100),
            b in proptest::collection::vec(0u8..4, 0..2100),
            at: usize,
        ) {
            let h = KeyedHash::new();
            let key = |t: &[u8]| h.hash("t", SourceKind::System, t);
            proptest::prop_assert_eq!(a == b, key(&a) == key(&b));
            let mut flipped = a.clone();
            if let Some(byte) = flipped.get_mut(at % a.len().max(1)) {
                *byte ^= 1;
                proptest::prop_assert_ne!(key(&a), key(&flipped));
            }
        }
    }
}
