//! A one-pass rule-out for short segments: one lazy DFA over the union of every pattern
//! that applies to a kind of text.
//!
//! A Claude Code request carries dozens of short segments (assistant remarks, tool-use
//! inputs, system reminders) with a few dozen bytes each. On those the scanner's cost is
//! not per byte but per call: each segment pays a gate search on two views, a lowercased
//! copy, the digit positions and one prefiltered regex search per detector (~9,000
//! instructions for a 67-byte segment). Most of them match nothing at all. One search of
//! a lazy DFA built from all the patterns together answers "can anything match here" at
//! a few instructions a byte, so a short segment where nothing can match skips the
//! detectors and the letter-spaced view entirely (the encoded-run step, which is not
//! part of the union, still runs).
//!
//! Exactness: the union holds each applicable detector's original catalogue pattern (the
//! one a full search would run, case-insensitive as written) and the letter-spaced-run
//! trigger. Every finding of the plain view is a match of its detector's pattern, and
//! every finding of the despaced view needs a spaced run, which is a trigger match. The
//! DFA reports every pattern (`MatchKind::All`, no leftmost-first pruning) and stops at
//! the first match state, so "no match" means none of the patterns matches anywhere in
//! the text. Only ASCII text takes this path: for it normalization is the identity, so
//! the detectors would see exactly the text the DFA saw.
//!
//! Why only short segments: a lazy DFA over all patterns at once is bound by memory
//! latency on long text (~5 cycles a byte), and long text nearly always holds some match
//! (an IP address in code, a word of an injection pattern), so it would add a pass rather
//! than replace one. Bounded cost: the DFA's cache is capped; when it would have to be
//! cleared while producing fewer than [`MIN_BYTES_PER_STATE`] bytes per state (text built
//! to make a new state at every byte) the search gives up, the cache is reset and the
//! segment takes the normal path, so a hostile input costs at most one filled cache more
//! than it did before. No backtracking engine is involved (no ReDoS).

use std::panic::{RefUnwindSafe, UnwindSafe};

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::pool::Pool;
use regex_automata::{Input, MatchKind};

use crate::error::DetectionError;

/// Segments up to this many bytes are checked with the union first.
pub(crate) const QUICK_MAX_LEN: usize = 512;
/// Lazy DFA cache of the union, per thread in use.
const CACHE_CAPACITY: usize = 4 * 1024 * 1024;
/// The DFA gives up when it must clear its cache after fewer bytes per state than this.
const MIN_BYTES_PER_STATE: usize = 10;
/// Compiled-program size limit of the union.
const NFA_SIZE_LIMIT: usize = 32 * 1024 * 1024;

type CachePool = Pool<Cache, Box<dyn Fn() -> Cache + Send + Sync + UnwindSafe + RefUnwindSafe>>;

/// The union of a set of patterns, searched for any match.
pub(crate) struct QuickCheck {
    dfa: DFA,
    caches: CachePool,
}

impl QuickCheck {
    pub(crate) fn new(patterns: &[&str]) -> Result<QuickCheck, DetectionError> {
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(CACHE_CAPACITY)
                    .minimum_cache_clear_count(Some(0))
                    .minimum_bytes_per_state(Some(MIN_BYTES_PER_STATE)),
            )
            .thompson(thompson::Config::new().nfa_size_limit(Some(NFA_SIZE_LIMIT)).which_captures(WhichCaptures::None))
            .build_many(patterns)
            .map_err(|e| DetectionError::Pattern { id: "quick", message: e.to_string() })?;
        let for_pool = dfa.clone();
        let caches: CachePool = Pool::new(Box::new(move || for_pool.create_cache()));
        Ok(QuickCheck { dfa, caches })
    }

    /// `Some(false)`: no pattern matches anywhere in `text`. `Some(true)`: one does.
    /// `None`: the DFA gave up (its cache was too small for this text); scan normally.
    pub(crate) fn any_match(&self, text: &str) -> Option<bool> {
        let mut cache = self.caches.get();
        match self.dfa.try_search_fwd(&mut cache, &Input::new(text).earliest(true)) {
            Ok(found) => Some(found.is_some()),
            Err(_) => {
                cache.reset(&self.dfa);
                None
            }
        }
    }
}
