//! Which API endpoint a request path names, and so whether its body is inspected.
//!
//! The endpoints that carry prompts are inspected: `POST /v1/messages`,
//! `/v1/messages/count_tokens`, `/v1/messages/batches` (every request of a batch), the
//! legacy Text Completions `/v1/complete`, the OpenAI SDK compatibility layer's
//! `/v1/chat/completions`, Files API uploads `/v1/files` (a text file is used later by
//! id, see [`crate::upload`]), and the events sent to a Managed Agents session
//! `/v1/sessions/{session_id}/events`. Every other path is forwarded as it is.
//!
//! Why a spelling check: the gateway decides on the path it receives, the upstream on the
//! path it ends up with, and the two can differ. The URL parser that builds the upstream
//! URL removes dot segments (`/v1/./messages` and `/v1/x/../messages` arrive upstream as
//! `/v1/messages`), and servers differ on trailing slashes, doubled slashes, case and
//! percent-encoding. Any of these spellings, if it were forwarded as an uninspected path,
//! would be a way around the policy. So a path whose normalized form names an inspected
//! endpoint must be spelled exactly that way, or it is refused with a 400 before its body
//! is read. Normalizing is generous on purpose (percent-decoding, ASCII case, empty and dot
//! segments, `;` parameters, trailing whitespace): refusing a strange spelling of a
//! prompt endpoint costs nothing, since no client sends one.

use axum::http::Method;

/// An endpoint whose request body carries prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1/messages/count_tokens`: the same body shape as Messages.
    CountTokens,
    /// `POST /v1/messages/batches`: `{"requests":[{"custom_id","params":<Messages body>}]}`.
    MessageBatches,
    /// `POST /v1/complete`, the legacy Text Completions API: a `prompt` string of
    /// `\n\nHuman:` / `\n\nAssistant:` turns.
    Complete,
    /// `POST /v1/chat/completions`, the OpenAI SDK compatibility layer: an OpenAI Chat
    /// Completions body.
    ChatCompletions,
    /// `POST /v1/files`, a Files API upload (`multipart/form-data`).
    FileUpload,
    /// `POST /v1/sessions/{session_id}/events`: events sent to a Managed Agents session
    /// (`user.message`, `system.message`, tool results).
    SessionEvents,
}

impl Endpoint {
    /// Canonical paths, as the API documents them.
    const ALL: [(&'static str, Endpoint); 6] = [
        ("/v1/messages", Endpoint::Messages),
        ("/v1/messages/count_tokens", Endpoint::CountTokens),
        ("/v1/messages/batches", Endpoint::MessageBatches),
        ("/v1/complete", Endpoint::Complete),
        ("/v1/chat/completions", Endpoint::ChatCompletions),
        ("/v1/files", Endpoint::FileUpload),
    ];

    /// Paths with an id segment (`*`): the id is the caller's, in its own case, so the
    /// spelling check is on the shape: every other segment exactly so, the id plain
    /// (ASCII letters, digits, `_`, `-`).
    const WITH_ID: [(&'static [&'static str], &'static str, Endpoint); 1] =
        [(&["v1", "sessions", "*", "events"], "/v1/sessions/{session_id}/events", Endpoint::SessionEvents)];
}

/// What the proxy does with a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Inspect the body as this endpoint's, then forward.
    Inspect(Endpoint),
    /// Forward without inspection (no prompt in the body, e.g. `GET /v1/models`, or
    /// another method on a prompt endpoint, which the upstream refuses).
    Forward,
    /// A spelling of an inspected endpoint other than its canonical path.
    NonCanonical { canonical: &'static str },
    /// A path percent-encoded more than [`MAX_DECODING_ROUNDS`] levels deep: what it
    /// names cannot be told cheaply, and no client sends one.
    TooDeeplyEncoded,
}

/// Rounds of percent-decoding a path is given (`%2e` is one, `%252e` two); each round is a
/// pass over the path, so an unbounded number would be quadratic in its length.
pub const MAX_DECODING_ROUNDS: usize = 4;

/// Where `method path` goes (`path` is the upstream path: without the query, and without
/// the `/api/v1/anthropic` prefix).
pub fn route(method: &Method, path: &str) -> Route {
    let Some(normalized) = normalize(path) else {
        return Route::TooDeeplyEncoded;
    };
    let Some((canonical, endpoint)) = Endpoint::ALL.iter().find(|(canonical, _)| *canonical == normalized) else {
        return route_with_id(method, path, &normalized);
    };
    if path != *canonical {
        Route::NonCanonical { canonical }
    } else if method == Method::POST {
        Route::Inspect(*endpoint)
    } else {
        Route::Forward
    }
}

/// [`route`] for the endpoints whose path holds an id ([`Endpoint::WITH_ID`]).
fn route_with_id(method: &Method, path: &str, normalized: &str) -> Route {
    let shape_matches = |segments: &[&str], pattern: &[&str], id_ok: &dyn Fn(&str) -> bool| {
        segments.len() == pattern.len()
            && segments.iter().zip(pattern).all(|(s, p)| if *p == "*" { id_ok(s) } else { s == p })
    };
    let normalized: Vec<&str> = normalized.split('/').skip(1).collect();
    for (pattern, canonical, endpoint) in Endpoint::WITH_ID {
        if !shape_matches(&normalized, pattern, &|_| true) {
            continue;
        }
        let plain =
            |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let raw: Vec<&str> = path.strip_prefix('/').map(|p| p.split('/').collect()).unwrap_or_default();
        return if !shape_matches(&raw, pattern, &plain) {
            Route::NonCanonical { canonical }
        } else if method == Method::POST {
            Route::Inspect(endpoint)
        } else {
            Route::Forward
        };
    }
    Route::Forward
}

/// The path with percent-escapes decoded, ASCII lowercased, each segment cut at `;` and
/// trimmed of whitespace, empty and `.` segments dropped and `..` applied.
fn normalize(path: &str) -> Option<String> {
    let decoded = percent_decode(path.as_bytes())?;
    let lowered = String::from_utf8_lossy(&decoded).to_ascii_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for segment in lowered.split(['/', '\\']) {
        let segment = segment.split(';').next().unwrap_or_default().trim();
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in segments {
        out.push('/');
        out.push_str(segment);
    }
    Some(out)
}

/// `%XX` escapes decoded (repeatedly, so `%252e` is `.` too); a malformed escape is kept.
/// `None` when the text still changes after [`MAX_DECODING_ROUNDS`] rounds.
fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut text = bytes.to_vec();
    for _ in 0..=MAX_DECODING_ROUNDS {
        let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while let Some(&byte) = text.get(i) {
            match (byte, hex(text.get(i + 1)), hex(text.get(i + 2))) {
                (b'%', Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                _ => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        if out.len() == text.len() {
            return Some(out);
        }
        text = out;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_are_inspected_on_post_only() {
        assert_eq!(route(&Method::POST, "/v1/messages"), Route::Inspect(Endpoint::Messages));
        assert_eq!(route(&Method::POST, "/v1/messages/count_tokens"), Route::Inspect(Endpoint::CountTokens));
        assert_eq!(route(&Method::POST, "/v1/messages/batches"), Route::Inspect(Endpoint::MessageBatches));
        assert_eq!(route(&Method::POST, "/v1/complete"), Route::Inspect(Endpoint::Complete));
        assert_eq!(route(&Method::GET, "/v1/messages/batches"), Route::Forward);
        assert_eq!(route(&Method::GET, "/v1/models"), Route::Forward);
        assert_eq!(route(&Method::POST, "/v1/messages/batches/msgbatch_01/cancel"), Route::Forward);
        assert_eq!(route(&Method::POST, "/v1/files"), Route::Inspect(Endpoint::FileUpload));
        assert_eq!(route(&Method::POST, "/v1/chat/completions"), Route::Inspect(Endpoint::ChatCompletions));
        let events = "/v1/sessions/sesn_011CZkZAtmR3yMPDzynEDxu7/events";
        assert_eq!(route(&Method::POST, events), Route::Inspect(Endpoint::SessionEvents));
        assert_eq!(route(&Method::GET, events), Route::Forward);
        assert_eq!(route(&Method::GET, "/v1/sessions/sesn_1/events/stream"), Route::Forward);
        assert_eq!(route(&Method::POST, "/v1/sessions/sesn_1"), Route::Forward);
        assert_eq!(route(&Method::POST, "/v1/sessions"), Route::Forward);
        assert_eq!(route(&Method::GET, "/v1/files"), Route::Forward);
        assert_eq!(route(&Method::GET, "/v1/files/file_011/content"), Route::Forward);
        assert_eq!(route(&Method::DELETE, "/v1/files/file_011"), Route::Forward);
    }

    #[test]
    fn every_other_spelling_of_a_prompt_endpoint_is_refused() {
        for path in [
            "/v1/messages/",
            "/v1//messages",
            "/v1/./messages",
            "/v1/x/../messages",
            "/v1/Messages",
            "/V1/messages",
            "/v1/%6dessages",
            "/v1/%2e/messages",
            "/v1/%252e/messages",
            "/v1/messages%2f",
            "/v1/messages;x=1",
            "/v1/messages%20",
            "/v1\\messages",
            "/v1/messages/count_tokens/",
            "/v1/messages/./batches",
            "/v1/complete/",
            "/v1/Complete",
            "/v1/files/",
            "/v1/./files",
            "/v1/chat//completions",
            "/v1/Chat/Completions",
            "/v1/sessions/sesn_1/events/",
            "/v1/sessions/sesn_1/Events",
            "/v1/sessions/sesn_1/./events",
            "/v1/sessions/x/../sesn_1/events",
            "/v1/sessions/sesn%5F1/events",
            "/v1/sessions//sesn_1/events",
        ] {
            assert!(matches!(route(&Method::POST, path), Route::NonCanonical { .. }), "{path}");
            // The method does not matter: the spelling is refused before anything else.
            assert!(matches!(route(&Method::PUT, path), Route::NonCanonical { .. }), "{path}");
        }
        assert_eq!(route(&Method::POST, "/v1/x/../messages"), Route::NonCanonical { canonical: "/v1/messages" });
    }

    #[test]
    fn malformed_escapes_are_kept_not_a_panic() {
        assert_eq!(normalize("/v1/%zz/%4").as_deref(), Some("/v1/%zz/%4"));
        assert_eq!(normalize("/v1/%e2%82%ac").as_deref(), Some("/v1/€"));
        assert_eq!(normalize("/v1/%ff").as_deref(), Some("/v1/\u{fffd}"));
        assert_eq!(route(&Method::POST, "/v1/%"), Route::Forward);
    }

    #[test]
    fn decoding_is_bounded() {
        // Four levels deep is decoded; five is refused, whatever the path names.
        assert!(matches!(route(&Method::POST, "/v1/%2525252e/messages"), Route::NonCanonical { .. }));
        assert_eq!(route(&Method::POST, "/v1/%252525252e/messages"), Route::TooDeeplyEncoded);
        assert_eq!(route(&Method::GET, &format!("/v1/models/%{}41", "25".repeat(10_000))), Route::TooDeeplyEncoded);
    }
}
