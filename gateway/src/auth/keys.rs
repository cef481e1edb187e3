//! Gateway keys and client secrets: generation, hashing and constant-time comparison.
//!
//! Keys are 256 random bits, so a single SHA-256 is a sufficient one-way hash (a slow
//! password hash buys nothing against a key that cannot be guessed). The config holds
//! only `sha256:<hex>`; the clear key is printed once by `gateway keys new`.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const HASH_PREFIX: &str = "sha256:";

#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHash({})", self)
    }
}

impl std::fmt::Display for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{HASH_PREFIX}{}", hex::encode(self.0))
    }
}

impl KeyHash {
    pub fn of(secret: &str) -> KeyHash {
        KeyHash(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn parse(text: &str) -> Result<KeyHash, String> {
        let hex_part =
            text.strip_prefix(HASH_PREFIX).ok_or_else(|| format!("expected \"{HASH_PREFIX}<64 hex digits>\""))?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| format!("expected \"{HASH_PREFIX}<64 hex digits>\""))?;
        Ok(KeyHash(bytes))
    }

    /// Constant-time equality: the time taken does not depend on where the bytes differ.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Find the entry whose hash matches `presented`, comparing against every entry
/// without an early exit so timing reveals neither position nor partial matches.
pub fn find_constant_time<'a, T>(
    entries: impl IntoIterator<Item = &'a T>,
    hash_of: impl Fn(&T) -> &KeyHash,
    presented: &str,
) -> Option<&'a T>
where
    T: 'a,
{
    let presented = KeyHash::of(presented);
    let mut found = None;
    for entry in entries {
        if hash_of(entry).matches(&presented) && found.is_none() {
            found = Some(entry);
        }
    }
    found
}

/// A fresh random secret with a recognisable prefix (`pcl_` for gateway keys,
/// `pcs_` for client secrets) so secret scanners and people can tell what it is.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trips_through_text() {
        let hash = KeyHash::of("pcl_abc");
        let parsed = KeyHash::parse(&hash.to_string()).unwrap();
        assert!(parsed.matches(&hash));
        assert!(KeyHash::parse("md5:abc").is_err());
        assert!(KeyHash::parse("sha256:zz").is_err());
    }

    #[test]
    fn finds_the_matching_entry_only() {
        let entries = vec![KeyHash::of("a"), KeyHash::of("b")];
        assert_eq!(find_constant_time(&entries, |h| h, "b"), Some(&entries[1]));
        assert_eq!(find_constant_time(&entries, |h| h, "c"), None);
    }

    #[test]
    fn generated_keys_are_unique_and_prefixed() {
        let a = generate("pcl_");
        let b = generate("pcl_");
        assert_ne!(a, b);
        assert!(a.starts_with("pcl_") && a.len() == 4 + 64);
    }
}
