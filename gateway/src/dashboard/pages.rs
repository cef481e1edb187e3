//! The dashboard's static files (embedded at compile time: no build step, no files to
//! deploy) and the security headers every dashboard response carries.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Dashboard;

const INDEX_HTML: &str = include_str!("static/index.html");
const LOGIN_HTML: &str = include_str!("static/login.html");
const APP_JS: &str = include_str!("static/app.js");
const CHARTS_JS: &str = include_str!("static/charts.js");
const STYLE_CSS: &str = include_str!("static/style.css");

/// Only our own scripts and styles, no inline code, no framing, forms post only here.
/// SVG charts use presentation attributes, which `style-src 'self'` allows.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds CSP and the usual hardening headers to every dashboard response.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed: [(&str, &str); 5] = [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    // Audit data must not linger in shared caches or the back-forward cache.
    headers.entry(CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Middleware: the whole dashboard answers 404 while `dashboard.enabled` is false
/// (checked per request, so a reload turns it on or off).
pub async fn require_enabled(State(dashboard): State<Arc<Dashboard>>, request: Request, next: Next) -> Response {
    if dashboard.app.config().dashboard.enabled {
        next.run(request).await
    } else {
        crate::error::GatewayError::NotFound {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
        }
        .into_response()
    }
}

fn with_type(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `GET /dashboard/`: the app for admins, the login page for everyone else.
pub async fn index(State(dashboard): State<Arc<Dashboard>>, request: Request) -> Response {
    if dashboard.is_admin(request.headers()) {
        with_type(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML)
    } else {
        let mut response = StatusCode::SEE_OTHER.into_response();
        response.headers_mut().insert(LOCATION, HeaderValue::from_static("/dashboard/login"));
        response
    }
}

/// `GET /dashboard`: the app lives under the trailing-slash path (relative URLs).
pub async fn redirect_to_index() -> Response {
    let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
    response.headers_mut().insert(LOCATION, HeaderValue::from_static("/dashboard/"));
    response
}

/// `GET /dashboard/login`.
pub async fn login_form() -> Response {
    login_page(StatusCode::OK, false)
}

/// The login page; after a failed attempt the error paragraph is shown (the page
/// marks it with a class rather than templating text, so nothing user-supplied is echoed).
pub fn login_page(status: StatusCode, failed: bool) -> Response {
    let body = if failed {
        LOGIN_FAILED_HTML.get_or_init(|| LOGIN_HTML.replace("hidden data-error", "data-error"))
    } else {
        LOGIN_HTML
    };
    let mut response = (status, body.to_owned()).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

static LOGIN_FAILED_HTML: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `GET /dashboard/static/{file}`.
pub async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "charts.js" => ("text/javascript; charset=utf-8", CHARTS_JS),
        "style.css" => ("text/css; charset=utf-8", STYLE_CSS),
        _ => {
            return crate::error::GatewayError::NotFound {
                method: "GET".to_owned(),
                path: format!("/dashboard/static/{file}"),
            }
            .into_response();
        }
    };
    let mut response = with_type(StatusCode::OK, content_type, body);
    // Static code changes only with the binary; revalidate rather than store forever.
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
