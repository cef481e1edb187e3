//! The operator dashboard under `/dashboard`: live activity (SSE from the core-NATS
//! live subject), logs and usage (read-only ClickHouse queries over the audit tables).
//!
//! * [`config`]: the `[dashboard]` section (off by default).
//! * [`session`]: admin sign-in (cookie or bearer), separate from tenant keys.
//! * [`pages`]: embedded HTML/JS/CSS, CSP and hardening headers.
//! * [`live`], [`logs`], [`usage`]: the JSON/SSE APIs the page calls.
//! * [`clickhouse`], [`filters`]: the only place request values become SQL.
//!
//! Every `/dashboard/api/*` route answers an Anthropic-shaped 401 without an admin
//! session; the whole tree is a 404 while `dashboard.enabled` is false.

pub mod clickhouse;
pub mod config;
pub mod filters;
pub mod live;
pub mod logs;
pub mod pages;
pub mod session;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

use crate::config::Config;
use crate::error::GatewayError;
use crate::state::AppState;

pub use config::DashboardConfig;

/// State shared by the dashboard's handlers.
pub struct Dashboard {
    pub app: Arc<AppState>,
    sessions: session::Sessions,
    /// For ClickHouse queries (its own client: the upstream one has proxy timeouts).
    http: reqwest::Client,
    /// Connected on first use of the live view.
    nats: tokio::sync::OnceCell<async_nats::Client>,
    /// Turns true when the gateway shuts down; live streams end then.
    closing: tokio::sync::watch::Receiver<bool>,
}

impl Dashboard {
    /// Run a read-only query against the configured ClickHouse.
    async fn select(&self, sql: &str) -> Result<Vec<serde_json::Value>, GatewayError> {
        clickhouse::select(&self.http, &self.app.config().dashboard, sql).await
    }

    async fn nats(&self, config: &Config) -> Result<&async_nats::Client, GatewayError> {
        let Some(url) = config.audit.nats_url.clone() else {
            return Err(GatewayError::Unavailable(
                "the live view needs audit.nats_url (events go to a JSONL file)".to_owned(),
            ));
        };
        self.nats
            .get_or_try_init(|| async move {
                async_nats::ConnectOptions::new()
                    .name("portcullis-gateway-dashboard")
                    .connect(url.as_str())
                    .await
                    .map_err(|e| GatewayError::Unavailable(format!("cannot connect to NATS for live events: {e}")))
            })
            .await
    }
}

/// The `/dashboard` routes, with their own state, to merge into the gateway's router.
pub fn router<S: Clone + Send + Sync + 'static>(app: Arc<AppState>) -> Router<S> {
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().unwrap_or_default();
    let closing = live::closing_switch(&app);
    let dashboard =
        Arc::new(Dashboard { app, sessions: session::Sessions::default(), http, nats: Default::default(), closing });
    let api = Router::new()
        .route("/dashboard/api/live", get(live::live))
        .route("/dashboard/api/logs", get(logs::list))
        .route("/dashboard/api/sessions", get(logs::sessions))
        .route("/dashboard/api/events/{id}", get(logs::detail))
        .route("/dashboard/api/usage", get(usage::usage))
        .route("/dashboard/api/meta", get(meta))
        .route_layer(axum::middleware::from_fn_with_state(dashboard.clone(), session::require_admin));
    Router::new()
        .route("/dashboard", get(pages::redirect_to_index))
        .route("/dashboard/", get(pages::index))
        .route("/dashboard/login", get(pages::login_form).post(session::login))
        .route("/dashboard/logout", post(session::logout))
        .route("/dashboard/static/{file}", get(pages::asset))
        .merge(api)
        .layer(axum::middleware::from_fn(pages::security_headers))
        .layer(axum::middleware::from_fn_with_state(dashboard.clone(), pages::require_enabled))
        .with_state(dashboard)
}

/// `GET /dashboard/api/meta`: the configured projects, for the filter menus.
async fn meta(axum::extract::State(dashboard): axum::extract::State<Arc<Dashboard>>) -> axum::Json<serde_json::Value> {
    let config = dashboard.app.config();
    let projects: Vec<_> =
        config.projects.values().map(|p| serde_json::json!({ "name": p.name, "tenant": p.tenant })).collect();
    axum::Json(
        serde_json::json!({ "projects": projects, "live_events": config.audit.live_events && config.audit.nats_url.is_some() }),
    )
}
