//! The upstream HTTP client: requests spread over several connection pools
//! ("lanes") so that HTTP/2 streams never queue behind a full connection.
//!
//! reqwest (hyper-util's pool) multiplexes every request to one origin onto a
//! single HTTP/2 connection and does not open a second one when the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` is reached: the next request waits until a
//! stream ends (hyperium/hyper#3623). Messages API streams last minutes, so a
//! gateway carrying more concurrent streams than that limit would hold new
//! requests back behind old ones. Each lane here is its own `reqwest::Client`
//! (its own pool, so its own HTTP/2 connection); a request takes the first lane
//! with room, and a new lane is opened when every lane holds
//! `max_streams_per_connection`. Filling lanes in order keeps traffic on as few
//! connections as the load needs, so after a burst the later lanes go idle and
//! their connections time out. A request counts until its response body is
//! dropped ([`LaneGuard`]).
//!
//! The HTTP version is `upstream.http_version`: `auto` (HTTP/2 when TLS
//! negotiates it, as with api.anthropic.com; HTTP/1.1 over plain `http://`),
//! `http1`, or `http2` (also over plain `http://`, with prior knowledge). When
//! HTTP/2 cannot be spoken (`http1`, or `auto` over `http://`) there is one lane:
//! it pools one connection per concurrent request anyway, and every extra lane
//! would only keep its own idle connections (measured: 1,000 HTTP/1.1 streams
//! over ten lanes peaked ~6 MB higher than over one).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{HttpVersion, UpstreamConfig};

/// Lanes opened at most; with the default 100 streams each, 25,600 concurrent requests.
const MAX_LANES: usize = 256;

/// A pool of upstream clients; see the module docs.
pub struct UpstreamClients {
    /// Built at start, so there is always a lane to fall back on.
    first: Lane,
    /// Lanes opened under load, in order.
    more: Mutex<Vec<Lane>>,
    settings: ClientSettings,
}

#[derive(Clone)]
struct Lane {
    client: reqwest::Client,
    in_flight: Arc<AtomicUsize>,
}

/// What every lane's client is built with.
#[derive(Clone, Copy)]
struct ClientSettings {
    connect_timeout: Duration,
    http_version: HttpVersion,
    max_streams_per_lane: usize,
}

/// Holds one request's place on its lane until dropped (with the response body).
pub struct LaneGuard(Arc<AtomicUsize>);

impl Drop for LaneGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl UpstreamClients {
    /// Builds the first lane, so a client that cannot be built fails at startup.
    pub fn new(config: &UpstreamConfig) -> Result<UpstreamClients, String> {
        let may_speak_http2 = match config.http_version {
            HttpVersion::Http1 => false,
            HttpVersion::Http2 => true,
            // TLS may negotiate HTTP/2 (`HTTPS://` too: the scheme is case-insensitive).
            HttpVersion::Auto => reqwest::Url::parse(&config.base_url).is_ok_and(|url| url.scheme() == "https"),
        };
        let settings = ClientSettings {
            connect_timeout: config.connect_timeout,
            http_version: config.http_version,
            max_streams_per_lane: if may_speak_http2 { config.max_streams_per_connection } else { usize::MAX },
        };
        let first = settings.build_lane()?;
        Ok(UpstreamClients { first, more: Mutex::new(Vec::new()), settings })
    }

    /// The client for the next request and its place on that client's lane.
    pub fn pick(&self) -> (reqwest::Client, LaneGuard) {
        let mut more = self.lock_more();
        let max = self.settings.max_streams_per_lane;
        let lanes = || std::iter::once(&self.first).chain(more.iter());
        let lane = match lanes().find(|lane| lane.load() < max) {
            Some(lane) => lane.clone(),
            None if 1 + more.len() >= MAX_LANES => least_busy(&self.first, &more),
            // Built under the lock: rare (a lane per `max` concurrent requests), and two
            // requests arriving together must not both open one.
            None => match self.settings.build_lane() {
                Ok(lane) => {
                    more.push(lane.clone());
                    lane
                }
                // Cannot happen once the first lane was built with the same settings; if
                // it does, an existing lane over its share is better than failing.
                Err(error) => {
                    tracing::warn!(%error, "upstream: no new lane");
                    least_busy(&self.first, &more)
                }
            },
        };
        lane.in_flight.fetch_add(1, Ordering::Relaxed);
        (lane.client, LaneGuard(lane.in_flight))
    }

    /// Lanes opened so far (for `/health` and tests).
    pub fn lanes(&self) -> usize {
        1 + self.lock_more().len()
    }

    /// Upstream requests whose response is still being relayed.
    pub fn in_flight(&self) -> usize {
        self.in_flight_per_lane().iter().sum()
    }

    fn in_flight_per_lane(&self) -> Vec<usize> {
        let more = self.lock_more();
        std::iter::once(&self.first).chain(more.iter()).map(Lane::load).collect()
    }

    fn lock_more(&self) -> std::sync::MutexGuard<'_, Vec<Lane>> {
        self.more.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Lane {
    fn load(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

fn least_busy(first: &Lane, more: &[Lane]) -> Lane {
    more.iter().fold(first, |best, lane| if lane.load() < best.load() { lane } else { best }).clone()
}

impl ClientSettings {
    fn build_lane(&self) -> Result<Lane, String> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            // A proxy relays redirects to its client; it never follows them itself.
            .redirect(reqwest::redirect::Policy::none());
        builder = match self.http_version {
            HttpVersion::Auto => builder,
            HttpVersion::Http1 => builder.http1_only(),
            HttpVersion::Http2 => builder.http2_prior_knowledge(),
        };
        let client = builder.build().map_err(|e| format!("cannot build the upstream HTTP client: {e}"))?;
        Ok(Lane { client, in_flight: Arc::new(AtomicUsize::new(0)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients(base_url: &str, http_version: HttpVersion, max_streams: usize) -> UpstreamClients {
        let config = UpstreamConfig {
            base_url: base_url.into(),
            connect_timeout: Duration::from_secs(1),
            response_header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            http_version,
            max_streams_per_connection: max_streams,
        };
        UpstreamClients::new(&config).unwrap()
    }

    #[test]
    fn http1_only_upstreams_keep_one_lane() {
        for (url, version) in [("HTTP://127.0.0.1:1", HttpVersion::Auto), ("https://example.com", HttpVersion::Http1)] {
            let pool = clients(url, version, 2);
            let held: Vec<_> = (0..5).map(|_| pool.pick()).collect();
            assert_eq!((pool.lanes(), pool.in_flight()), (1, 5), "{url} {version:?}");
            drop(held);
        }
        let pool = clients("HTTPS://example.com", HttpVersion::Auto, 2);
        let _held: Vec<_> = (0..5).map(|_| pool.pick()).collect();
        assert_eq!(pool.lanes(), 3, "auto over https may negotiate HTTP/2");
    }

    #[test]
    fn a_new_lane_opens_only_when_every_lane_is_full() {
        let pool = clients("http://127.0.0.1:1", HttpVersion::Http2, 2);
        let a = pool.pick();
        let b = pool.pick();
        assert_eq!(pool.lanes(), 1);
        let c = pool.pick();
        assert_eq!(pool.lanes(), 2);
        drop((a, b));
        // The first lane has room again: no third lane, and it is filled first.
        let d = pool.pick();
        let e = pool.pick();
        assert_eq!(pool.lanes(), 2);
        assert_eq!(pool.in_flight(), 3);
        assert_eq!(pool.in_flight_per_lane(), [2, 1], "d and e went to the first lane");
        drop((c, d, e));
        assert_eq!(pool.in_flight(), 0);
    }
}
