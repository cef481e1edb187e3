//! Admin sign-in: a login form that sets an HttpOnly, SameSite=Strict session cookie,
//! or `Authorization: Bearer <admin credential>` for scripts calling the JSON APIs.
//!
//! The cookie holds a random session token, never the credential; the server keeps
//! only the token's hash and expiry. Sessions live in memory: a restart signs everyone
//! out, which is acceptable for an admin console and keeps the gateway stateless on disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Dashboard;
use super::pages;
use crate::auth::keys::{self, KeyHash};
use crate::error::GatewayError;

pub const COOKIE_NAME: &str = "portcullis_dashboard";
/// Sessions kept at once; beyond this the oldest are dropped (a login loop cannot grow memory).
const MAX_SESSIONS: usize = 1024;
/// Longest credential accepted from the form (keys are 68 characters).
const MAX_CREDENTIAL_LEN: usize = 512;

#[derive(Default)]
pub struct Sessions {
    /// Token hash (`sha256:<hex>`) -> expiry.
    by_hash: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    fn create(&self, ttl: Duration) -> String {
        let token = keys::generate("pds_");
        let now = Instant::now();
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, expiry| *expiry > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(KeyHash::of(&token).to_string(), now + ttl);
        token
    }

    fn is_valid(&self, token: &str) -> bool {
        let map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&KeyHash::of(token).to_string()).is_some_and(|expiry| *expiry > Instant::now())
    }

    fn remove(&self, token: &str) {
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&KeyHash::of(token).to_string());
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

impl Dashboard {
    /// Whether the request carries a valid session cookie or the admin credential as a bearer.
    pub fn is_admin(&self, headers: &HeaderMap) -> bool {
        if let Some(token) = session_cookie(headers)
            && self.sessions.is_valid(token)
        {
            return true;
        }
        let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        match (bearer, self.app.config().dashboard.admin_hash()) {
            (Some(presented), Some(hash)) => hash.matches(&KeyHash::of(presented.trim())),
            _ => false,
        }
    }
}

/// Middleware for `/dashboard/api/*`: an Anthropic-shaped 401 without an admin session.
pub async fn require_admin(State(dashboard): State<Arc<Dashboard>>, request: Request, next: Next) -> Response {
    if dashboard.is_admin(request.headers()) {
        next.run(request).await
    } else {
        GatewayError::Unauthenticated(
            "the dashboard needs the admin credential (sign in, or send it as a bearer token)".to_owned(),
        )
        .into_response()
    }
}

/// `POST /dashboard/login` with the form field `credential`.
pub async fn login(State(dashboard): State<Arc<Dashboard>>, body: axum::body::Bytes) -> Response {
    let config = dashboard.app.config();
    let presented = form_field(&body, "credential").unwrap_or_default();
    let valid = presented.len() <= MAX_CREDENTIAL_LEN
        && config.dashboard.admin_hash().is_some_and(|hash| hash.matches(&KeyHash::of(presented.trim())));
    if !valid {
        tracing::warn!("dashboard: failed admin sign-in");
        return pages::login_page(StatusCode::UNAUTHORIZED, true);
    }
    let ttl = Duration::from_secs(config.dashboard.session_ttl_secs);
    let token = dashboard.sessions.create(ttl);
    let secure = if config.dashboard.secure_cookie { "; Secure" } else { "" };
    let cookie =
        format!("{COOKIE_NAME}={token}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}{secure}", ttl.as_secs());
    redirect_with_cookie("/dashboard/", &cookie)
}

/// `POST /dashboard/logout`: forget the session and clear the cookie.
pub async fn logout(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if let Some(token) = session_cookie(&headers) {
        dashboard.sessions.remove(token);
    }
    let cookie = format!("{COOKIE_NAME}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0");
    redirect_with_cookie("/dashboard/login", &cookie)
}

fn redirect_with_cookie(location: &'static str, cookie: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(LOCATION, HeaderValue::from_static(location));
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// One field of an `application/x-www-form-urlencoded` body. The URL parser's query
/// decoder implements exactly that encoding (`+` as space, percent escapes), so no
/// extra form crate is needed for a one-field form.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let url = reqwest::Url::parse(&format!("http://form.invalid/?{text}")).ok()?;
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(form_field(b"credential=pda_a%2Bb+c&x=1", "credential").as_deref(), Some("pda_a+b c"));
        assert_eq!(form_field(b"other=1", "credential"), None);
    }

    #[test]
    fn sessions_expire_and_are_removed() {
        let sessions = Sessions::default();
        let token = sessions.create(Duration::from_secs(60));
        assert!(sessions.is_valid(&token));
        assert!(!sessions.is_valid("pds_forged"));
        sessions.remove(&token);
        assert!(!sessions.is_valid(&token));
        let expired = sessions.create(Duration::ZERO);
        assert!(!sessions.is_valid(&expired));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; portcullis_dashboard=pds_x; b=2"));
        assert_eq!(session_cookie(&headers), Some("pds_x"));
    }
}
