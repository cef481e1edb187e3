//! The cache's keyed 64-bit hash of (tenant, source kind, text): NH over 1 KiB blocks,
//! the block results and the length folded by SipHash.
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
//! SipHash differ, a keyed PRF whose 64-bit outputs then collide with probability about
//! 2^-64. Texts of different lengths, tenants or kinds give different SipHash inputs. The
//! keys (a 1 KiB NH key and SipHash's) are random per cache and never leave the process;
//! a collision cannot be steered without them, only guessed, and nothing about the key is
//! observable before a first collision. NH's bound holds for texts chosen without
//! knowledge of the key (NH is no PRF: its raw value would reveal key material), so its
//! value never leaves this module, only the outer SipHash's, and that only as a map key.
//! That is the cache's threat model: a tenant crafting a text whose key equals the key of
//! another cached text, without knowing the per-process key.

use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};

use crate::segments::SourceKind;

/// NH key length in 64-bit words: one block is 1 KiB of text.
const BLOCK_WORDS: usize = 128;
const BLOCK_BYTES: usize = BLOCK_WORDS * 8;

/// A keyed hash with a fresh random key.
pub(crate) struct KeyedHash {
    nh_key: Box<[u64; BLOCK_WORDS]>,
    outer: RandomState,
}

impl KeyedHash {
    pub(crate) fn new() -> Self {
        // The NH key words: outputs of a SipHash keyed from the OS random source (a PRF),
        // a different instance than the outer hash.
        let seed = RandomState::new();
        let nh_key = Box::new(std::array::from_fn(|i| seed.hash_one(("portcullis nh key", i))));
        KeyedHash { nh_key, outer: RandomState::new() }
    }

    /// The 64-bit key of `text` from `tenant` as `kind` (see the module docs).
    #[cfg(test)]
    pub(crate) fn hash(&self, tenant: &str, kind: SourceKind, text: &[u8]) -> u64 {
        self.for_tenant(tenant).hash(kind, text)
    }

    /// The outer hash with `tenant` already absorbed, for hashing many segments of one
    /// request: the tenant is written once, not once a segment.
    pub(crate) fn for_tenant(&self, tenant: &str) -> TenantHash<'_> {
        let mut outer = self.outer.build_hasher();
        // Length-prefixed, so the outer input parses one way only.
        outer.write_u64(tenant.len() as u64);
        outer.write(tenant.as_bytes());
        TenantHash { nh_key: &self.nh_key, outer }
    }
}

/// [`KeyedHash`] for one tenant.
pub(crate) struct TenantHash<'k> {
    nh_key: &'k [u64; BLOCK_WORDS],
    outer: DefaultHasher,
}

impl TenantHash<'_> {
    /// The 64-bit key of `text` as `kind` (see the module docs).
    pub(crate) fn hash(&self, kind: SourceKind, text: &[u8]) -> u64 {
        let mut h = self.outer.clone();
        // The text's length and the kind in one word (a text is far below 2^56 bytes),
        // then one NH value a block. Few writes: each costs SipHash more than 16 bytes of NH.
        h.write_u64(((text.len() as u64) << 8) | u64::from(kind as u8));
        for block in text.chunks(BLOCK_BYTES) {
            h.write_u128(nh(self.nh_key, block));
        }
        h.finish()
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
