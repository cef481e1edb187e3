//! The scanner: one `RegexSet` pass per view, targeted searches for the patterns that hit.
//!
//! Per segment:
//! 1. normalize (a no-op for pure ASCII text, which is most agent traffic);
//! 2. run the `RegexSet` of all detectors plus two trigger patterns over the normalized
//!    text: one linear pass that says which patterns occur at all;
//! 3. for each detector that occurred, find its matches with its own regex and check each
//!    candidate (checksums, validity rules, entropy, context);
//! 4. if the letter-spacing trigger occurred, join the spaced runs and rerun the injection
//!    and jailbreak detectors on that view;
//! 5. if the encoded-run trigger occurred, decode qualifying base64/hex runs (bounded, one
//!    level), normalize the decoded texts, and run all detectors over them in one pass;
//!    such findings span the whole encoded run in the original text.
//!
//! The regex crate runs in linear time (no backtracking, so no ReDoS); compiled programs
//! and the lazy DFA cache are size-limited. Findings per segment are capped so a hostile
//! input cannot make the result unbounded.

use std::ops::Range;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::cache::{CacheLimits, CacheStats, CachedFinding, ScanCache};
use crate::catalogue::{self, DetectorDef, Redact};
use crate::decode::decode_run;
use crate::error::DetectionError;
use crate::finding::{Category, DetectorInfo, Finding, Transform};
use crate::normalize::{collapse_spacing, normalize};
use crate::segments::{Segment, SegmentRef, SourceKind};

/// Compiled-program size limit per regex and for the set.
const REGEX_SIZE_LIMIT: usize = 32 * 1024 * 1024;
/// Lazy DFA cache per regex/set (per thread in use).
const DFA_SIZE_LIMIT: usize = 8 * 1024 * 1024;
/// The set holds every pattern at once; its lazy DFA gets a larger (still bounded) cache.
const SET_DFA_SIZE_LIMIT: usize = 64 * 1024 * 1024;
/// At most this many findings per detector per segment; the rest are dropped.
pub const MAX_FINDINGS_PER_DETECTOR: usize = 64;

/// The signature scanner with its incremental cache. Build once, share (`Arc`) between
/// threads: `scan` takes `&self`.
pub struct Scanner {
    defs: Vec<DetectorDef>,
    infos: Vec<DetectorInfo>,
    set: RegexSet,
    regexes: Vec<Regex>,
    spaced_idx: usize,
    encoded_idx: usize,
    cache: ScanCache,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner").field("detectors", &self.defs.len()).finish_non_exhaustive()
    }
}

impl Scanner {
    /// Compiles the catalogue with the default cache limits.
    pub fn new() -> Result<Scanner, DetectionError> {
        Scanner::with_cache_limits(CacheLimits::default())
    }

    /// Compiles the catalogue with the given cache limits.
    pub fn with_cache_limits(limits: CacheLimits) -> Result<Scanner, DetectionError> {
        let defs = catalogue::detectors();
        let mut patterns: Vec<(&'static str, &'static str)> = defs.iter().map(|d| (d.id, d.pattern)).collect();
        let spaced_idx = patterns.len();
        patterns.push(("trigger.spaced", catalogue::TRIGGER_SPACED));
        let encoded_idx = patterns.len();
        patterns.push(("trigger.encoded", catalogue::TRIGGER_ENCODED));
        let regexes = patterns
            .iter()
            .map(|(id, p)| {
                RegexBuilder::new(p)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .dfa_size_limit(DFA_SIZE_LIMIT)
                    .build()
                    .map_err(|e| DetectionError::Pattern { id, message: e.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let set = RegexSetBuilder::new(patterns.iter().map(|(_, p)| p))
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(SET_DFA_SIZE_LIMIT)
            .build()
            .map_err(|e| DetectionError::Pattern { id: "regex_set", message: e.to_string() })?;
        let infos = defs
            .iter()
            .map(|d| DetectorInfo {
                id: d.id,
                category: d.category,
                confidence: d.confidence,
                tool_result_confidence: d.tool_result_confidence,
                description: d.description,
            })
            .collect();
        Ok(Scanner { defs, infos, set, regexes, spaced_idx, encoded_idx, cache: ScanCache::new(limits) })
    }

    /// Every detector: id, category, confidence, description.
    pub fn catalogue(&self) -> &[DetectorInfo] {
        &self.infos
    }

    /// Scans all segments of one request for `tenant`, using and filling the incremental
    /// cache. Findings come in segment order, then by position.
    pub fn scan(&self, tenant: &str, segments: &[Segment]) -> Vec<Finding> {
        let min_len = self.cache.limits().min_segment_len;
        let mut findings = Vec::new();
        for segment in segments {
            if segment.text.len() < min_len {
                let raw = self.scan_text(segment.origin.source, &segment.text);
                self.push_findings(&mut findings, &segment.origin, &raw);
                continue;
            }
            let key = self.cache.key(tenant, segment.origin.source, &segment.text);
            let raw = match self.cache.get(key) {
                Some(hit) => hit,
                None => {
                    let fresh: std::sync::Arc<[CachedFinding]> =
                        self.scan_text(segment.origin.source, &segment.text).into();
                    self.cache.insert(key, fresh.clone());
                    fresh
                }
            };
            self.push_findings(&mut findings, &segment.origin, &raw);
        }
        findings
    }

    /// Scans without touching the cache (benchmarks, one-off checks).
    pub fn scan_uncached(&self, segments: &[Segment]) -> Vec<Finding> {
        let mut findings = Vec::new();
        for segment in segments {
            let raw = self.scan_text(segment.origin.source, &segment.text);
            self.push_findings(&mut findings, &segment.origin, &raw);
        }
        findings
    }

    /// Current cache occupancy.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Drops every cached segment.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    fn push_findings(&self, out: &mut Vec<Finding>, origin: &SegmentRef, raw: &[CachedFinding]) {
        for f in raw {
            let Some(def) = self.defs.get(f.detector) else { continue };
            out.push(Finding {
                detector_id: def.id,
                category: def.category,
                confidence: f.confidence,
                segment: origin.clone(),
                span: f.span.clone(),
                redacted: f.redacted.to_string(),
                transform: f.transform,
            });
        }
    }

    /// Scans one text as if it came from `kind`; spans are byte ranges of `text`.
    pub(crate) fn scan_text(&self, kind: SourceKind, text: &str) -> Vec<CachedFinding> {
        let mut out = Vec::new();
        let plain = normalize(text);
        let base = if plain.is_identity() { Transform::None } else { Transform::Normalized };
        let hits = self.set.matches(plain.text());
        if !hits.matched_any() {
            return out;
        }
        for idx in hits.iter() {
            if idx < self.defs.len() {
                self.run_detector(idx, kind, plain.text(), &|r| plain.original_span(r), base, &mut out);
            } else if idx == self.spaced_idx {
                let runs: Vec<Range<usize>> =
                    self.regexes[idx].find_iter(plain.text()).map(|m| m.range()).collect();
                let despaced = collapse_spacing(plain.text(), &runs);
                let map = |r| plain.original_span(despaced.original_span(r));
                for d in self.set.matches(despaced.text()).iter() {
                    let injection = self
                        .defs
                        .get(d)
                        .is_some_and(|def| matches!(def.category, Category::PromptInjection | Category::Jailbreak));
                    if injection {
                        self.run_detector(d, kind, despaced.text(), &map, Transform::Despaced, &mut out);
                    }
                }
            } else if idx == self.encoded_idx {
                self.scan_encoded(kind, plain.text(), &|r| plain.original_span(r), &mut out);
            }
        }
        dedup(out)
    }

    /// Decodes qualifying runs and scans all decoded texts in one pass.
    fn scan_encoded(
        &self,
        kind: SourceKind,
        text: &str,
        map: &dyn Fn(Range<usize>) -> Range<usize>,
        out: &mut Vec<CachedFinding>,
    ) {
        // One buffer per transform so each finding carries the right one.
        for how in [Transform::Base64, Transform::Hex] {
            let mut combined = String::new();
            let mut parts: Vec<(usize, Range<usize>)> = Vec::new(); // (start in combined, span in text)
            for m in self.regexes[self.encoded_idx].find_iter(text) {
                let Some((decoded, t)) = decode_run(m.as_str()) else { continue };
                if t != how {
                    continue;
                }
                let n = normalize(&decoded);
                parts.push((combined.len(), map(m.range())));
                combined.push_str(n.text());
                combined.push('\n');
            }
            if parts.is_empty() {
                continue;
            }
            let to_span = |r: Range<usize>| {
                let part_of = |pos: usize| parts.partition_point(|(start, _)| *start <= pos).saturating_sub(1);
                let first = parts.get(part_of(r.start)).map(|p| p.1.clone()).unwrap_or_default();
                let last = parts.get(part_of(r.end.saturating_sub(1).max(r.start))).map(|p| p.1.clone()).unwrap_or_default();
                first.start..last.end.max(first.start)
            };
            for d in self.set.matches(&combined).iter() {
                if d < self.defs.len() {
                    self.run_detector(d, kind, &combined, &to_span, how, out);
                }
            }
        }
    }

    fn run_detector(
        &self,
        idx: usize,
        kind: SourceKind,
        text: &str,
        map: &dyn Fn(Range<usize>) -> Range<usize>,
        transform: Transform,
        out: &mut Vec<CachedFinding>,
    ) {
        let (Some(def), Some(re)) = (self.defs.get(idx), self.regexes.get(idx)) else { return };
        if !def.scope.applies(kind) {
            return;
        }
        let confidence = match kind {
            SourceKind::ToolResult | SourceKind::Document => def.tool_result_confidence.unwrap_or(def.confidence),
            _ => def.confidence,
        };
        let mut found = 0;
        for m in re.find_iter(text) {
            let (range, conf) = match def.validate {
                Some(check) => match check(text, m.range(), confidence) {
                    Some(v) => v,
                    None => continue,
                },
                None => (m.range(), confidence),
            };
            let Some(matched) = text.get(range.clone()) else { continue };
            out.push(CachedFinding {
                detector: idx,
                confidence: conf,
                span: map(range),
                redacted: redact(def.redact, matched).into_boxed_str(),
                transform,
            });
            found += 1;
            if found >= MAX_FINDINGS_PER_DETECTOR {
                break;
            }
        }
    }
}

/// Renders a match without its secret part.
fn redact(style: Redact, matched: &str) -> String {
    match style {
        Redact::Full => format!("[REDACTED {} bytes]", matched.len()),
        Redact::Prefixes(prefixes) => match prefixes.iter().find(|p| matched.starts_with(*p)) {
            Some(p) => format!("{p}…[REDACTED]"),
            None => "[REDACTED]".to_owned(),
        },
        Redact::Leading(n) => match matched.get(..n) {
            Some(p) if matched.len() > n => format!("{p}…[REDACTED]"),
            _ => "[REDACTED]".to_owned(),
        },
    }
}

/// Merges overlapping findings of the same detector (e.g. found both in the plain and the
/// despaced view), keeping the most confident; orders by position.
fn dedup(mut v: Vec<CachedFinding>) -> Vec<CachedFinding> {
    if v.len() < 2 {
        return v;
    }
    v.sort_by_key(|f| (f.detector, f.span.start, f.span.end));
    let mut out: Vec<CachedFinding> = Vec::with_capacity(v.len());
    for f in v {
        match out.last_mut() {
            Some(last) if last.detector == f.detector && f.span.start < last.span.end.max(last.span.start + 1) => {
                if f.confidence > last.confidence {
                    last.confidence = f.confidence;
                    last.transform = f.transform;
                }
                last.span.end = last.span.end.max(f.span.end);
            }
            _ => out.push(f),
        }
    }
    out.sort_by_key(|f| (f.span.start, f.detector));
    out
}

/// Development aid (used by `examples/profile_patterns.rs`): prints how long the set pass
/// and each pattern's own search take on `text`.
#[doc(hidden)]
pub fn profile_patterns(text: &str) {
    let Ok(s) = Scanner::new() else { return };
    let time = |f: &dyn Fn() -> usize| {
        let t = std::time::Instant::now();
        let mut n = 0;
        for _ in 0..10 {
            n = f();
        }
        (t.elapsed() / 10, n)
    };
    let (d, n) = time(&|| s.set.matches(text).iter().count());
    println!("set.matches: {d:?} ({n} patterns hit)");
    let ids: Vec<&str> = s.defs.iter().map(|d| d.id).chain(["trigger.spaced", "trigger.encoded"]).collect();
    for (re, id) in s.regexes.iter().zip(ids) {
        let (d, n) = time(&|| re.find_iter(text).count());
        println!("{id:40} {d:>12?} {n} matches");
    }
}
