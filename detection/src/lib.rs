//! Portcullis' inline security core: signature detection and per-project policy.
//!
//! The gateway calls this crate for every `/v1/messages` (and `count_tokens`) request,
//! before anything is forwarded. Forwarding stays byte-exact; the crate only reads the
//! body's bytes.
//!
//! # Calling it from the gateway
//!
//! ```no_run
//! use std::path::Path;
//! use portcullis_detection::{
//!     inspect_body, Decision, Policy, PolicyConfig, PolicyHandle, PolicyInput, Scanner,
//! };
//!
//! # fn main() -> Result<(), portcullis_detection::DetectionError> {
//! // Once at startup (and per project): compile the scanner and the policy.
//! let scanner = Scanner::new()?; // share as Arc<Scanner>; scan() takes &self
//! let cfg: PolicyConfig = serde_json::from_str(r#"{"template":"balanced","rego_files":["authz.rego"]}"#)
//!     .map_err(|e| portcullis_detection::DetectionError::Config(e.to_string()))?;
//! let policy = PolicyHandle::new(Policy::compile(&cfg, Path::new("/etc/portcullis"))?);
//! // Optional hot reload of the Rego files (a std thread polling mtimes):
//! let _watcher = portcullis_detection::spawn_rego_watcher(
//!     policy.clone(), cfg.clone(), "/etc/portcullis".into(), std::time::Duration::from_secs(2))?;
//!
//! // Per request:
//! // A bad body is a 400 invalid_request_error with the error's message.
//! let Ok(body) = inspect_body(br#"{"model":"claude-sonnet-4-5","messages":[]}"#) else { return Ok(()) };
//! let findings = scanner.scan("tenant-a", &body.segments);
//! let mut input = PolicyInput::from_facts(&body.facts);
//! input.tenant = "tenant-a".into();
//! input.project = "default".into();
//! input.path = "/v1/messages".into();
//! input.method = "POST".into();
//! let verdict = policy.current().evaluate(&input, &findings)?;
//! if verdict.decision == Decision::Block {
//!     // 403 permission_error with verdict.reasons.join(", "), x-should-retry: false
//! }
//! // Every response: X-Risk-Blocked, X-Risk-Categories = verdict.categories_header(),
//! // X-Risk-Confidence = verdict.confidence_header().
//! # Ok(()) }
//! ```
//!
//! `Finding`s never hold the matched clear text: only its byte `span` in the segment and a
//! `redacted` rendering (`sk-ant-…[REDACTED]`, `[REDACTED 11 bytes]`); their `Debug` prints
//! only that. Log and audit findings freely.
//!
//! # Segments
//!
//! [`inspect_body`] reads them straight from the request bytes (only the fields it needs,
//! strings borrowed; a duplicate inspected key is refused), with provenance
//! ([`SegmentRef`]): the `system` prompt
//! (string or each text block), a `{"role":"system"}` message, user and assistant text and
//! thinking blocks, `tool_result` contents (string, or each nested text block, nested
//! documents as [`SourceKind::Document`]), `tool_use` inputs as compact JSON, and
//! `document`/`search_result` text, and each tool definition in `tools`
//! ([`SourceKind::ToolDefinition`]: description and schema strings). Images and binary
//! documents are skipped.
//!
//! # Detector catalogue
//!
//! | id | category | confidence | notes |
//! |---|---|---|---|
//! | `pii.us_ssn` | pii | 0.85 | `AAA-GG-SSSS` / spaces; area ≠ 000/666/9xx, group ≠ 00, serial ≠ 0000 |
//! | `pii.credit_card` | pii | 0.9 | 13–19 digits, consistent separators, issuer prefix, Luhn |
//! | `pii.email` | pii | 0.8 | `noreply@`-style addresses skipped |
//! | `pii.phone` | pii | 0.7 | E.164 (`+` 8–15 digits) or US with separators; bare digit runs never |
//! | `pii.iban` | pii | 0.9 | mod-97 checksum |
//! | `pii.ipv4` | pii | 0.7 | 0.4 for loopback/private/unspecified; version strings skipped |
//! | `pii.ipv6` | pii | 0.6 | must parse and contain a digit |
//! | `secret.anthropic_key` | secret | 0.99 | `sk-ant-…` |
//! | `secret.openai_key` | secret | 0.9 (0.97 for `sk-proj-`/legacy marker) | `sk-…`, random-looking |
//! | `secret.aws_access_key` | secret | 0.95 | `AKIA`/`ASIA`/… + 16 base32 |
//! | `secret.github_token` | secret | 0.97 | `ghp_ gho_ ghs_ ghu_ ghr_ github_pat_` |
//! | `secret.gitlab_token` | secret | 0.97 | `glpat-` |
//! | `secret.slack_token` | secret | 0.95 | `xox[baprs]-` |
//! | `secret.private_key` | secret | 0.99 | `-----BEGIN … PRIVATE KEY-----` through `-----END …-----` |
//! | `secret.jwt` | secret | 0.9 | `eyJ….eyJ….sig` |
//! | `secret.generic_assignment` | secret | 0.8 | `password=`/`secret:`/`api_key=`… value with entropy ≥ 3.0 bits/byte |
//! | `injection.instruction_override` | prompt_injection | 0.9 / 0.95 in tool results | ignore/disregard/forget/override (all) previous/prior/above instructions… |
//! | `injection.system_prompt_exfiltration` | prompt_injection | 0.85 / 0.9 | reveal/print/repeat your system prompt… |
//! | `injection.fake_turn` | prompt_injection | 0.8 / 0.9 | `\n\nHuman:`, `\n\nAssistant:`, `<\|im_start\|>`, `[SYSTEM]`, `</system>`, `### System:` |
//! | `injection.hidden_instruction` | prompt_injection | 0.55 / 0.8 | "AI assistant: you must now…", "note to the AI", "if you are an AI reading" |
//! | `injection.html_comment_instruction` | prompt_injection | 0.6 | `<!-- … -->` addressing the AI, tool output/documents only |
//! | `jailbreak.dan_roleplay` | jailbreak | 0.9 | you are now DAN, do anything now, developer mode enabled |
//! | `jailbreak.no_restrictions` | jailbreak | 0.85 | pretend you have no restrictions, no longer bound by rules |
//! | `injection.tool_credential_access` | prompt_injection | 0.9 | tool definitions only: read/send/pass `~/.ssh` keys, `.aws/credentials`, `mcp.json`, `.netrc`, … |
//! | `injection.tool_conceal_from_user` | prompt_injection | 0.7 | tool definitions only: do not mention this to the user, without telling the user |
//! | `injection.tool_shadowing` | prompt_injection | 0.85 | tool definitions only: send all emails to `<address>`, change the recipient to, side effect on another tool |
//! | `injection.tool_important_tag` | prompt_injection | 0.5 | tool definitions only: the `<IMPORTANT>` wrapper of published tool-poisoning attacks |
//! | `ml.injection` | prompt_injection | the model's score | not scanned here: the gateway's ML step (detector workers) makes these findings; listed so the policy judges them ([`EXTERNAL_DETECTORS`]) |
//!
//! "x / y" = confidence in user text / in tool results and documents. Injection and
//! jailbreak detectors scan user text, tool results, tool inputs and documents, not the
//! operator's system prompt nor assistant turns (which quote such phrases routinely).
//! Tool definitions (`tools[]`: description and schema strings) are instructions by design:
//! only secrets, `instruction_override`, `system_prompt_exfiltration`, the jailbreak
//! signatures and the `tool_*` signatures look at them (see `catalogue::Scope`).
//!
//! # Normalization and evasion
//!
//! Text is normalized before matching ([`normalize()`]): zero-width/bidi/tag characters
//! removed, compatibility-decomposed (NFKC's folding: fullwidth, ligatures, odd spaces) with
//! combining marks dropped, Cyrillic/Greek homoglyphs folded to Latin; injection patterns are
//! case-insensitive, secret/PII patterns case-sensitive. Letter-spaced runs
//! (`i g n o r e`, `i.g.n.o.r.e`, `i_g_n_o_r_e`) are joined and rescanned for injection and
//! jailbreak. Base64 (standard/URL-safe) and hex runs of ≥ 24 characters that decode
//! (≤ 64 KiB each, one level) to printable UTF-8 are scanned too; those findings span the
//! encoded run. Spans always point into the original text, on character boundaries.
//!
//! # Incremental cache
//!
//! [`Scanner::scan`] remembers each segment's findings per tenant (keyed SipHash of tenant,
//! source kind and text; bounded by [`CacheLimits`]), so a resent conversation prefix costs
//! one hash pass instead of a scan. [`Scanner::scan_uncached`] bypasses it.
//!
//! # Policy
//!
//! [`PolicyConfig`] (serde, unknown fields rejected): `template` (`strict`, `balanced`
//! default, `permissive`), `detectors` overrides keyed by detector id or category name
//! (`pii`, `secret`, `prompt_injection`, `jailbreak`) with `enabled`, `level` (`L1`–`L4`) and
//! `action` (`block`, `alert`, `log`); `rego_files` (relative to the base dir) and `rego`
//! (inline module). Precedence: detector override > category override > template.
//!
//! | template | level | secret, prompt_injection, jailbreak | pii |
//! |---|---|---|---|
//! | `strict` | L4 | block | alert |
//! | `balanced` | L2 | block | alert |
//! | `permissive` | L1 | alert | alert |
//!
//! | level | acts on findings with confidence |
//! |---|---|
//! | L1 | ≥ 0.90 |
//! | L2 | ≥ 0.75 |
//! | L3 | ≥ 0.50 |
//! | L4 | any |
//!
//! Findings below their level, or with action `log`, are still returned (and should be
//! recorded) but do not act. A disabled detector's findings are ignored by the policy.
//! Decision = the strongest acting action (block > alert > allow).
//!
//! Rego: every module package that declares `deny` (and/or `alert`) is evaluated as
//! `data.<package>.deny` / `.alert` against the [`PolicyInput`] document (plus
//! `mcp_server: "anthropic-proxy"`, `tool_name: "anthropic-api"` and `findings`). A
//! `true` value, or a non-empty set of messages (`deny contains msg if { … }`), blocks
//! (`alert`: alerts); reasons are `rego:<package>.deny` or `rego:<package>.deny: <msg>`.
//! The seed example works unchanged:
//!
//! ```rego
//! package behavry.authz
//! deny if {
//!   input.mcp_server == "anthropic-proxy"
//!   not startswith(input.model, "claude-3-")
//!   not startswith(input.model, "claude-opus")
//! }
//! ```

mod cache;
mod catalogue;
mod classes;
mod decode;
mod error;
mod extensions;
mod finding;
mod keyed_hash;
mod locate;
pub mod normalize;
mod policy;
mod quick;
mod request_body;
mod scanner;
mod segments;
mod validators;
mod word_triggers;

pub use cache::{CacheLimits, CacheStats, CacheWeight, SegmentCache, TenantKeys};
pub use error::DetectionError;
pub use finding::{Category, DetectorInfo, Finding, Transform};
pub use normalize::normalize;
pub use policy::{
    Action, Decision, DetectorOverride, DetectorRule, EXTERNAL_DETECTORS, Level, MAX_BATCH_REQUESTS_NAMED,
    ML_INJECTION_ID, Policy, PolicyConfig, PolicyHandle, PolicyInput, RegoWatcher, Template, Verdict,
    spawn_rego_watcher,
};
pub use request_body::{
    BatchRequest, BodyError, InspectedBatch, InspectedBody, MAX_READ_BYTES, inspect_batch_body, inspect_body,
    inspect_chat_completion_body, inspect_completion_body, inspect_session_events_body,
};
pub use scanner::{
    MAX_FINDINGS_PER_DETECTOR, MAX_REQUEST_FINDINGS_PER_GROUP, ScanReport, Scanner, profile_patterns, thread_cpu_time,
};
pub use segments::{RequestFacts, Segment, SegmentRef, SourceKind};
pub use validators::{luhn_valid, shannon_entropy};
