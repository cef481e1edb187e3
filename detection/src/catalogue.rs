//! The signature catalogue: every detector's stable id, category, confidence, pattern and
//! candidate check.
//!
//! Patterns are written for the normalized view (ASCII after folding). Secret and PII
//! patterns are case-sensitive; injection and jailbreak patterns are case-insensitive
//! (`(?i-u)` on every alternative, lowercase literals: the scanner runs them
//! case-sensitively on an ASCII-lowercased copy, where the regex crate's literal
//! prefilters work) and
//! use `\s*` between words so that they also match the despaced view, where letter-spaced
//! words were joined. Word boundaries are ASCII (`(?-u:\b)`) so the lazy DFA never has to
//! fall back to a slower engine. Injection and jailbreak detectors only look at text that
//! can carry an attack into the conversation (user text, tool results, tool inputs,
//! documents), not at the operator's system prompt or the model's own replies, which
//! routinely quote such phrases.

use crate::finding::Category;
use crate::segments::SourceKind;
use crate::validators::{self, Validator};

/// How much of a match may be shown in `Finding::redacted`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Redact {
    /// Nothing: `[REDACTED n bytes]`.
    Full,
    /// The longest of these public prefixes that the match starts with, then `…[REDACTED]`.
    Prefixes(&'static [&'static str]),
    /// The first `n` bytes (a public marker such as `AKIA`), then `…[REDACTED]`.
    Leading(usize),
}

/// Where a detector applies.
///
/// Tool definitions are instructions to the model by design (Claude Code's built-in ones
/// say `IMPORTANT:`, `NEVER`, `ALWAYS` and quote example conversations; third-party ones
/// address notes to the assistant and give support e-mail addresses), so besides the
/// `tool_*` poisoning signatures only secrets and the unambiguous override, exfiltration
/// and jailbreak phrases look at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every segment.
    All,
    /// Every segment except tool definitions.
    Conversation,
    /// Text that can smuggle instructions in: user text, tool results, tool inputs, documents.
    Untrusted,
    /// [`Scope::Untrusted`] and tool definitions.
    UntrustedAndToolDefinitions,
    /// Tool results and documents only.
    ToolOutput,
    /// Tool definitions only.
    ToolDefinitions,
}

impl Scope {
    pub(crate) fn applies(self, kind: SourceKind) -> bool {
        let untrusted = !matches!(kind, SourceKind::System | SourceKind::AssistantText | SourceKind::ToolDefinition);
        match self {
            Scope::All => true,
            Scope::Conversation => kind != SourceKind::ToolDefinition,
            Scope::Untrusted => untrusted,
            Scope::UntrustedAndToolDefinitions => untrusted || kind == SourceKind::ToolDefinition,
            Scope::ToolOutput => matches!(kind, SourceKind::ToolResult | SourceKind::Document),
            Scope::ToolDefinitions => kind == SourceKind::ToolDefinition,
        }
    }
}

pub(crate) struct DetectorDef {
    pub id: &'static str,
    pub category: Category,
    pub confidence: f32,
    pub tool_result_confidence: Option<f32>,
    pub description: &'static str,
    pub pattern: &'static str,
    pub validate: Option<Validator>,
    pub scope: Scope,
    pub redact: Redact,
    /// Where the pattern can match, so the scanner only searches there.
    pub locate: Locate,
    /// Literals of which at least one occurs in every text the pattern matches; when none
    /// occurs the pattern is not run. Empty: no gate. A literal with an uppercase letter
    /// must occur exactly; an all-lowercase one in any case. All gates are searched
    /// together in one pass per view, so literals are at least 3 bytes long (shorter
    /// ones would flood the shared SIMD prefilter with candidates).
    pub gate: &'static [&'static str],
}

/// Where a detector's matches can lie: a necessary condition, cheap to check, that lets
/// the scanner skip the regex over text that cannot match. Each variant is exact for its
/// pattern (every match lies inside a located region), so locating never loses a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locate {
    /// Search the whole text (the pattern has a good literal prefilter of its own).
    Everywhere,
    /// Every match starts with an ASCII digit at a word boundary (`(?-u:\b)[0-9]`), holds
    /// at least `min_digits` ASCII digits and is at most `max_len` bytes long: search
    /// windows around dense digit clusters that begin a word only.
    Digits { min_digits: usize, max_len: usize },
    /// Every match starts with two uppercase letters and two digits (`DE89`) and is at
    /// most `max_len` bytes long.
    IbanStart { max_len: usize },
    /// Every match holds at least `dots` dots that each sit between two digits (`1.2`) and
    /// is at most `max_len` bytes long: IPv4. Sharper than [`Locate::Digits`], which also
    /// opens a window at every date, id or port number.
    DigitDots { dots: usize, max_len: usize },
    /// Phone numbers: a match either starts with `+` and a digit and holds 8-15 digits in
    /// at most 30 bytes, or is a US number whose 10 digits come in groups of 3, 3 and 4
    /// within 14 bytes (`(415) 555-2671`, `415.555.2671`). Sharper than
    /// [`Locate::Digits`]: dates, version strings and `127.0.0.1:8080` open no window.
    Phone,
    /// Every match is inside a run of hex digits and colons; only runs with two colons
    /// and a digit can yield a (valid) finding. The validator must reject a match with a
    /// hex digit or colon beside it (a finding is then a whole run): runs it rejects
    /// whole are not searched.
    HexColonRuns,
}

/// The letter-spaced-run trigger: it does not produce findings, it tells the scanner which
/// runs to join for the despaced view. (The encoded-run trigger,
/// `[A-Za-z0-9+/_\-]{24,}={0,2}`, is implemented by `locate::encoded_runs`.)
pub(crate) const TRIGGER_SPACED: &str = r"(?-u:\b)[A-Za-z](?:[ ._\-*/]{1,3}[A-Za-z]){3,}(?-u:\b)";

pub(crate) fn detectors() -> Vec<DetectorDef> {
    use Category::*;
    vec![
        // ---------------------------------------------------------------- PII
        DetectorDef {
            id: "pii.us_ssn",
            category: Pii,
            confidence: 0.85,
            tool_result_confidence: None,
            description: "US Social Security number (AAA-GG-SSSS; area not 000/666/9xx, group not 00, serial not 0000)",
            pattern: r"(?-u:\b)[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}(?-u:\b)",
            validate: Some(validators::us_ssn),
            scope: Scope::Conversation,
            locate: Locate::Digits { min_digits: 9, max_len: 11 },
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "pii.credit_card",
            category: Pii,
            confidence: 0.9,
            tool_result_confidence: None,
            description: "Payment card number: 13-19 digits, optional consistent separators, issuer prefix, Luhn checksum",
            pattern: r"(?-u:\b)[0-9](?:[ \-]?[0-9]){12,18}(?-u:\b)",
            validate: Some(validators::credit_card),
            scope: Scope::Conversation,
            locate: Locate::Digits { min_digits: 13, max_len: 37 },
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "pii.email",
            category: Pii,
            confidence: 0.8,
            tool_result_confidence: None,
            description: "Email address (noreply-style addresses are ignored)",
            pattern: r"(?-u:\b)[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}(?-u:\b)",
            validate: Some(validators::email),
            scope: Scope::Conversation,
            locate: Locate::Everywhere,
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "pii.phone",
            category: Pii,
            confidence: 0.7,
            tool_result_confidence: None,
            description: "Phone number: E.164 (+ and 8-15 digits) or US formats with separators; plain digit runs are not phones",
            pattern: r"\+[0-9](?:[ .\-]?[0-9]){7,14}|\+1[ .\-]?\([0-9]{3}\)[ .\-]?[0-9]{3}[ .\-][0-9]{4}|(?:\([2-9][0-9]{2}\)[ ]?|(?-u:\b)[2-9][0-9]{2}[\-. ])[2-9][0-9]{2}[\-. ][0-9]{4}(?-u:\b)",
            validate: Some(validators::phone),
            scope: Scope::Conversation,
            locate: Locate::Phone,
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "pii.iban",
            category: Pii,
            confidence: 0.9,
            tool_result_confidence: None,
            description: "IBAN with valid ISO 7064 mod-97 checksum",
            pattern: r"(?-u:\b)[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?-u:\b)",
            validate: Some(validators::iban),
            scope: Scope::Conversation,
            locate: Locate::IbanStart { max_len: 43 },
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "pii.ipv4",
            category: Pii,
            confidence: 0.7,
            tool_result_confidence: None,
            description: "IPv4 address (loopback/private/unspecified at confidence 0.4; version-like strings skipped)",
            pattern: r"(?-u:\b)(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?-u:\b)",
            validate: Some(validators::ipv4),
            scope: Scope::Conversation,
            locate: Locate::DigitDots { dots: 3, max_len: 15 },
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "pii.ipv6",
            category: Pii,
            confidence: 0.6,
            tool_result_confidence: None,
            description: "IPv6 address (must parse; needs a digit so code paths like a::b do not match)",
            pattern: r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}",
            validate: Some(validators::ipv6),
            scope: Scope::Conversation,
            locate: Locate::HexColonRuns,
            gate: &[],
            redact: Redact::Full,
        },
        // ---------------------------------------------------------------- secrets
        DetectorDef {
            id: "secret.anthropic_key",
            category: Secret,
            confidence: 0.99,
            tool_result_confidence: None,
            description: "Anthropic API/admin key (sk-ant-...)",
            pattern: r"sk-ant-[A-Za-z0-9_\-]{20,}",
            validate: None,
            scope: Scope::All,
            locate: Locate::Everywhere,
            gate: &["sk-ant-"],
            redact: Redact::Prefixes(&["sk-ant-"]),
        },
        DetectorDef {
            id: "secret.openai_key",
            category: Secret,
            confidence: 0.9,
            tool_result_confidence: None,
            description: "OpenAI API key (sk-..., sk-proj-..., sk-svcacct-...)",
            pattern: r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
            validate: Some(validators::openai_key),
            scope: Scope::All,
            locate: Locate::Everywhere,
            gate: &["sk-"],
            redact: Redact::Prefixes(&["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"]),
        },
        DetectorDef {
            id: "secret.aws_access_key",
            category: Secret,
            confidence: 0.95,
            tool_result_confidence: None,
            description: "AWS access key id (AKIA..., ASIA..., and other IAM unique-id prefixes)",
            pattern: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z2-7]{16}(?-u:\b)",
            validate: None,
            scope: Scope::All,
            locate: Locate::Everywhere,
            gate: &["AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA"],
            redact: Redact::Leading(4),
        },
        DetectorDef {
            id: "secret.github_token",
            category: Secret,
            confidence: 0.97,
            tool_result_confidence: None,
            description: "GitHub token (ghp_, gho_, ghs_, ghu_, ghr_, github_pat_)",
            pattern: r"(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}",
            validate: None,
            scope: Scope::All,
            locate: Locate::Everywhere,
            gate: &["ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_"],
            redact: Redact::Prefixes(&["github_pat_", "ghp_", "gho_", "ghs_", "ghu_", "ghr_"]),
        },
        DetectorDef {
            id: "secret.gitlab_token",
            category: Secret,
            confidence: 0.97,
            tool_result_confidence: None,
            description: "GitLab personal access token (glpat-...)",
            pattern: r"glpat-[A-Za-z0-9_\-]{20,}",
            validate: None,
            scope: Scope::All,
            locate: Locate::Everywhere,
            gate: &["glpat-"],
            redact: Redact::Prefixes(&["glpat-"]),
        },
        DetectorDef {
            id: "secret.slack_token",
            category: Secret,
            confidence: 0.95,
            tool_result_confidence: None,
            description: "Slack token (xoxb-, xoxa-, xoxp-, xoxr-, xoxs-)",
            pattern: r"xox[baprs]-[A-Za-z0-9\-]{10,}",
            validate: None,
            scope: Scope::All,
            locate: Locate::Everywhere,
            gate: &["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"],
            redact: Redact::Leading(5),
        },
        DetectorDef {
            id: "secret.private_key",
            category: Secret,
            confidence: 0.99,
            tool_result_confidence: None,
            description: "PEM/OpenSSH/PGP private key block (-----BEGIN ... PRIVATE KEY-----)",
            pattern: r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----",
            validate: Some(validators::private_key),
            scope: Scope::All,
            locate: Locate::Everywhere,
            gate: &["-----BEGIN"],
            redact: Redact::Prefixes(&["-----BEGIN"]),
        },
        DetectorDef {
            id: "secret.jwt",
            category: Secret,
            confidence: 0.9,
            tool_result_confidence: None,
            description: "JSON Web Token (eyJ....eyJ....signature)",
            pattern: r"(?-u:\b)eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*",
            validate: None,
            scope: Scope::All,
            locate: Locate::Everywhere,
            gate: &["eyJ"],
            redact: Redact::Leading(3),
        },
        DetectorDef {
            id: "secret.generic_assignment",
            category: Secret,
            confidence: 0.8,
            tool_result_confidence: None,
            description: "password=/secret:/api_key= style assignment whose value is high-entropy (>= 3.0 bits/byte, not a placeholder); the span covers the value",
            pattern: r#"(?i-u)(?:password|passwd|secret|api[_\-]?key|apikey|(?:auth|access|api|bearer|refresh|session|private)[_\-]?(?:token|key)|client[_\-]?secret|credentials?)["']?[ \t]*(?::=|=>|=|:)[ \t]*["']?[A-Za-z0-9+/=_\-.!@#$%^&*~?|]{8,}"#,
            validate: Some(validators::secret_assignment),
            scope: Scope::All,
            locate: Locate::Everywhere,
            gate: &[],
            redact: Redact::Full,
        },
        // ---------------------------------------------------------------- injection
        DetectorDef {
            id: "injection.instruction_override",
            category: PromptInjection,
            confidence: 0.9,
            tool_result_confidence: Some(0.95),
            description: "Instruction override: ignore/disregard/forget/override (all) previous/prior/above instructions/rules/prompts, forget everything above",
            pattern: r"(?i-u)(?-u:\b)(?:ignore|disregard|forget|override|bypass|neglect|abandon|discard)\s*(?:(?:all|any|every|each|of|the|your|my|these|those|that|this|its)\s*){0,3}(?:previous|prior|preceding|above|earlier|former|initial|original|foregoing|old|system)\s*(?:(?:ai|assistant|system|safety|model|given|the|of|and|instructions|rules)\s*){0,2}(?:instructions?|rules?|prompts?|directions?|directives?|guidelines?|commands?|guidance|constraints|programming|orders|context)(?-u:\b)|(?i-u)(?-u:\b)(?:forget|ignore|disregard)\s*(?:everything|all\s*(?:that|of\s*that)?)\s*(?:above|(?:you\s*(?:were|have\s*been|'ve\s*been)\s*told))",
            validate: Some(validators::not_a_prohibition),
            scope: Scope::UntrustedAndToolDefinitions,
            locate: Locate::Everywhere,
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "injection.system_prompt_exfiltration",
            category: PromptInjection,
            confidence: 0.85,
            tool_result_confidence: Some(0.9),
            description: "System prompt exfiltration: reveal/print/repeat your system prompt or instructions, repeat the words above",
            pattern: r"(?i-u)(?-u:\b)(?:reveal|print|repeat|show|output|display|dump|leak|disclose|recite|spell\s*out|tell\s*me|give\s*me|write\s*out|what\s*(?:is|are|was|were))\s*(?:me\s*)?(?:back\s*)?(?:all\s*)?(?:of\s*)?(?:your|the)\s*(?:(?:full|entire|exact|complete|original|initial|hidden|secret|current|real)\s*)?(?:system\s*(?:prompt|message|instructions)|(?:initial|original|hidden|secret)\s*(?:prompt|instructions)|prompt\s*above)(?-u:\b)|(?i-u)(?-u:\b)(?:reveal|print|repeat|show|output|dump|leak|disclose|recite)\s*(?:me\s*)?(?:all\s*)?(?:of\s*)?your\s*(?:instructions|prompt|rules|guidelines)(?-u:\b)|(?i-u)(?-u:\b)what\s*(?:are|were)\s*your\s*(?:(?:original|initial|exact|real|secret|hidden)\s*)?(?:instructions|rules|directives)(?-u:\b)|(?i-u)(?-u:\b)(?:repeat|print|output)\s*(?:all\s*)?(?:the\s*)?(?:words|text|everything|content)\s*(?:above|before\s*this)(?-u:\b)",
            validate: Some(validators::not_a_prohibition),
            scope: Scope::UntrustedAndToolDefinitions,
            locate: Locate::Everywhere,
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "injection.fake_turn",
            category: PromptInjection,
            confidence: 0.8,
            tool_result_confidence: Some(0.9),
            description: "Fake conversation turn or chat-template marker embedded in text (\\n\\nHuman:, \\n\\nAssistant:, <|im_start|>, [SYSTEM], </system>, ### System:)",
            pattern: r"\n[ \t]*\r?\n[ \t]*(?:Human|Assistant|System)[ \t]*:|<\|(?:im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id)\|>|\[/?(?:SYSTEM|INST|SYS)\]|<</?SYS>>|</?system>|(?m:^)[ \t]*#{2,}[ \t]*(?:System|SYSTEM|Assistant|Instruction|Instructions|Human)[ \t]*:",
            validate: None,
            scope: Scope::Untrusted,
            locate: Locate::Everywhere,
            gate: &[
                "Human",
                "Assistant",
                "System",
                "SYSTEM",
                "Instruction",
                "<|im_",
                "<|system",
                "<|assistant",
                "<|user",
                "<|endoftext",
                "<|eot_id",
                "<|start_header_id",
                "[SYS",
                "[/SYS",
                "[INST",
                "[/INST",
                "<<SYS",
                "<</SYS",
                "<system>",
                "</system>",
            ],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "injection.hidden_instruction",
            category: PromptInjection,
            confidence: 0.55,
            tool_result_confidence: Some(0.8),
            description: "Instructions aimed at the AI inside data (\"AI assistant: you must now ...\", \"note to the AI\", \"if you are an AI\"); high confidence in tool results",
            pattern: r"(?i-u)(?-u:\b)(?:ai|assistant|claude|chatbot|llm|agent|language\s*model)\s*[:,]\s*(?:you\s*)?(?:must|should|shall|need\s*to|have\s*to|are\s*(?:now\s*)?(?:required|instructed|ordered)\s*to|will\s*now)(?-u:\b)|(?i-u)(?-u:\b)(?:note|message|instructions?|attention|important)\s*(?:to|for)\s*(?:the\s*|any\s*|all\s*)?(?:ai|assistant|llm|language\s*model|agent|claude|chatbot)s?(?-u:\b)|(?i-u)(?-u:\b)if\s*you\s*are\s*(?:an?\s*)?(?:ai|assistant|llm|language\s*model|ai\s*agent|claude)(?-u:\b)\s*(?:reading|processing|,)",
            validate: None,
            scope: Scope::Untrusted,
            locate: Locate::Everywhere,
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "injection.html_comment_instruction",
            category: PromptInjection,
            confidence: 0.6,
            tool_result_confidence: Some(0.6),
            description: "HTML comment in tool output or a document that addresses the AI or carries instructions",
            pattern: r"<!--",
            validate: Some(validators::html_comment_instruction),
            scope: Scope::ToolOutput,
            locate: Locate::Everywhere,
            gate: &["<!--"],
            redact: Redact::Full,
        },
        // ---------------------------------------------------------------- tool poisoning
        // Signatures of a poisoned tool definition (an MCP server's tool whose description
        // or schema carries instructions for the model): reading credential files into the
        // tool's arguments, hiding that from the user, redirecting another tool's
        // recipients. Tight grammar on purpose: ordinary descriptions instruct too.
        DetectorDef {
            id: "injection.tool_credential_access",
            category: PromptInjection,
            confidence: 0.9,
            tool_result_confidence: None,
            description: "Tool definition that tells the model (imperative verb) to read or send a credential file (~/.ssh keys or the whole ~/.ssh, .aws/credentials, mcp.json, .netrc, .git-credentials, .npmrc, .pypirc, /etc/shadow); descriptions of what a tool does (\"Reads ~/.ssh/config\") are not instructions, nor are prohibitions (\"never read ~/.ssh\", \"refuses to open .netrc\")",
            pattern: r"(?i-u)(?-u:\b)(?:read|cat|open|load|fetch|access|include|attach|pass|send|upload|provide|copy|paste|forward|extract|retrieve|get|dump|print|output|return)(?-u:\b)\s*(?:(?:the|your|user's|users'|all|everything|full|entire|contents?|content|text|data|of|file|files|at|from|in|inside|located|stored|under|key|keys|private|ssh|config|configuration)\s*){0,6}[`'\x22(]?\s*[~$%a-z0-9_.:\\/\-]{0,80}?(?:\.ssh(?:[/\\](?:id_|identity|[a-z0-9_.\-]*(?:key|pem)(?-u:\b))|[\s`'\x22),;]|$)|id_(?:rsa|dsa|ecdsa|ed25519)(?-u:\b)|\.aws[/\\]credentials|[a-z0-9_.\-]*mcp\.json|\.netrc|\.git-credentials|\.npmrc|\.pypirc|\.docker[/\\]config\.json|etc[/\\]shadow)",
            validate: Some(validators::not_a_prohibition),
            scope: Scope::ToolDefinitions,
            locate: Locate::Everywhere,
            gate: &[
                ".ssh",
                "id_rsa",
                "id_dsa",
                "id_ecdsa",
                "id_ed25519",
                "credentials",
                "mcp.json",
                ".netrc",
                ".npmrc",
                ".pypirc",
                ".docker",
                "shadow",
            ],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "injection.tool_conceal_from_user",
            category: PromptInjection,
            // Below L2: tool authors also write "keep the token hidden from the user", so
            // alone it acts only at L3/L4; the attacks it accompanies trip the others.
            confidence: 0.7,
            tool_result_confidence: None,
            description: "Tool definition that tells the model to keep its actions from the user: do not mention/tell this to the user, without informing the user, hide it from the user",
            pattern: r"(?i-u)(?-u:\b)(?:do\s*not|don't|dont|never|must\s*not|should\s*not|shouldn't|without|avoid)\s*(?:ever\s*)?(?:mention(?:ing)?|tell(?:ing)?|inform(?:ing)?|notify(?:ing)?|notifying|alert(?:ing)?|let(?:ting)?|warn(?:ing)?)\s*(?:(?:this|that|it|anything|any\s*of\s*this|about|these|those|steps?|actions?|side\s*effects?|instructions?|to|the)\s*){0,3}(?:user|human|operator)s?(?:\s*(?:know|aware))?(?-u:\b)(?:\s*(?:about\s*)?(?:this|that|it|these|the\s*(?:file|step|action|read|side\s*effect|instruction)s?))?|(?i-u)(?-u:\b)(?:do\s*not|don't|dont|never)\s*(?:mention|tell)\s*(?:to\s*the\s*user\s*)?that\s*you\s*(?:first\s*|also\s*|will\s*|have\s*|need|read|are|did)|(?i-u)(?-u:\b)(?:hide|conceal|keep)\s*(?:(?:this|that|it|these|those|the|action|actions|step|steps|side\s*effects?|secret|hidden|private)\s*){0,3}from\s*(?:the\s*)?(?:user|human|operator)s?(?-u:\b)|(?i-u)(?-u:\b)(?:user|human)\s*(?:must|should|shall|does|do|need)\s*(?:not|n't|never)\s*(?:ever\s*)?(?:know|see|notice|find\s*out|learn|be\s*(?:told|informed|aware|notified))(?-u:\b)",
            validate: None,
            scope: Scope::ToolDefinitions,
            locate: Locate::Everywhere,
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "injection.tool_shadowing",
            category: PromptInjection,
            confidence: 0.85,
            tool_result_confidence: None,
            description: "Tool definition that redirects what other tools send: send all e-mails to <address>, always bcc <address>, change the recipient to ..., a side effect on another tool; a prohibition (\"never send all e-mails to ...\") is not",
            pattern: r"(?i-u)(?-u:\b)(?:send|forward|bcc|cc|copy|redirect|route|mirror)\s*(?:all|every|each|any)\s*(?:(?:the|of|user's|outgoing|incoming|their|these)\s*){0,2}(?:e-?mails?|messages?|mail|data|requests?|payments?|funds|transfers?|transactions?|files?|documents?|results?|responses?)\s*(?:also\s*)?(?:to|through|via)\s*(?:the\s*)?(?:address\s*|number\s*|account\s*|endpoint\s*|url\s*)?[`'\x22<]?[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}|(?i-u)(?-u:\b)(?:always|also|secretly|silently|quietly)\s*(?:bcc|cc|copy|(?:send|forward)\s*(?:a\s*)?copy\s*(?:of\s*(?:it|them|each|every|the\s*\w+)\s*)?to)\s*[`'\x22<]?[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}|(?i-u)(?-u:\b)(?:change|set|replace|switch|overwrite|override)\s*(?:the\s*)?(?:recipient|recipients|destination|to\s*address|receiver|account\s*number|iban|wallet\s*address|beneficiary|phone\s*number)\s*(?:field\s*)?(?:to|with)\s*[`'\x22<]?(?:\+?[0-9]|[a-z0-9._%+\-]+@)|(?i-u)(?-u:\b)side\s*effects?\s*on\s*(?:the\s*)?(?:also\s*)?(?:present\s*)?[`'\x22]?[a-z0-9_\-]+[`'\x22]?\s*tool(?-u:\b)",
            validate: Some(validators::not_a_prohibition),
            scope: Scope::ToolDefinitions,
            locate: Locate::Everywhere,
            gate: &[],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "injection.tool_important_tag",
            category: PromptInjection,
            confidence: 0.5,
            tool_result_confidence: None,
            description: "<IMPORTANT> tag in a tool definition, the wrapper of published tool-poisoning attacks (low confidence: alone it is not an attack)",
            pattern: r"(?i-u)</?important(?:\s[a-z0-9 =\x22'_\-]{0,40})?>",
            validate: None,
            scope: Scope::ToolDefinitions,
            locate: Locate::Everywhere,
            gate: &["<important", "</important"],
            redact: Redact::Full,
        },
        // ---------------------------------------------------------------- jailbreak
        DetectorDef {
            id: "jailbreak.dan_roleplay",
            category: Jailbreak,
            confidence: 0.9,
            tool_result_confidence: None,
            description: "DAN-style role-play: you are now DAN, do anything now, developer mode enabled",
            pattern: r"(?i-u)(?-u:\b)you\s*are\s*(?:now\s*)?(?:going\s*to\s*(?:act\s*as|be)\s*)?(?-i:DAN|STAN|DUDE)(?-u:\b)|(?i-u)(?-u:\b)do\s*anything\s*now(?-u:\b)|(?i-u)(?-u:\b)(?:developer|dev|god|jailbreak|jailbroken|unrestricted|dan)\s*mode\s*(?:is\s*)?(?:now\s*)?(?:enabled|activated|on|engaged)(?-u:\b)|(?i-u)(?-u:\b)(?:enable|activate|enter)\s*(?:developer|god|jailbreak|dan)\s*mode(?-u:\b)",
            validate: None,
            scope: Scope::UntrustedAndToolDefinitions,
            locate: Locate::Everywhere,
            gate: &["DAN", "STAN", "DUDE", "anything", "mode"],
            redact: Redact::Full,
        },
        DetectorDef {
            id: "jailbreak.no_restrictions",
            category: Jailbreak,
            confidence: 0.85,
            tool_result_confidence: None,
            description: "Asks the model to act without restrictions: pretend you have no restrictions, no longer bound by rules",
            pattern: r"(?i-u)(?-u:\b)(?:pretend|act|behave|imagine|roleplay|role-play)\s*(?:as\s*if\s*|like\s*|that\s*)?you\s*(?:have|had|are\s*under|operate\s*with|are\s*bound\s*by)\s*no\s*(?:(?:ethical|moral|safety|content|more)\s*)?(?:restrictions|limits|limitations|rules|filters|guidelines|boundaries|constraints|content\s*polic(?:y|ies))(?-u:\b)|(?i-u)(?-u:\b)(?:no\s*longer|not)\s*bound\s*by\s*(?:any\s*)?(?:rules|restrictions|guidelines|polic(?:y|ies)|openai|anthropic)(?-u:\b)|(?i-u)(?-u:\b)(?:without|free\s*(?:of|from))\s*(?:any\s*)?(?:ethical|moral|safety)\s*(?:restrictions|guidelines|constraints|limits|filters)(?-u:\b)",
            validate: None,
            scope: Scope::UntrustedAndToolDefinitions,
            locate: Locate::Everywhere,
            gate: &[],
            redact: Redact::Full,
        },
    ]
}
