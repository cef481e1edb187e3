//! Real clickhouse-server children: MergeTree insert/select, error bodies,
//! parallel starts, data surviving restart, and Drop killing the process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Instant;

use test_support::{ClickHouseServer, HarnessError};

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

async fn create_and_fill(server: &ClickHouseServer) {
    server
        .query(
            "CREATE TABLE events (id UInt64, name String, at DateTime) \
             ENGINE = MergeTree ORDER BY id",
        )
        .await
        .unwrap();
    server.query("INSERT INTO events VALUES (1, 'one', now()), (2, 'two', now()), (3, 'three', now())").await.unwrap();
}

async fn names(server: &ClickHouseServer) -> String {
    server.query("SELECT name FROM events ORDER BY id FORMAT TabSeparated").await.unwrap()
}

#[tokio::test]
async fn merge_tree_insert_select_and_restart() {
    let started = Instant::now();
    let mut server = ClickHouseServer::start().await.unwrap();
    eprintln!("clickhouse-server ready in {:?}", started.elapsed());
    assert_eq!(server.http_url(), format!("http://127.0.0.1:{}", server.http_port()));
    assert_eq!(server.query("SELECT version()").await.unwrap().trim(), "18.16.1");
    // 18.16 reports the zone as "Etc/UTC"; what matters is that a known instant renders in UTC.
    assert_eq!(server.query("SELECT toString(toDateTime(86400))").await.unwrap().trim(), "1970-01-02 00:00:00");

    create_and_fill(&server).await;
    assert_eq!(names(&server).await, "one\ntwo\nthree\n");

    let http_port = server.http_port();
    server.stop().await;
    assert!(!server.is_running());
    assert!(server.query("SELECT 1").await.is_err());
    assert!(server.data_dir().join("data/default/events").exists());

    server.restart().await.unwrap();
    assert_eq!(server.http_port(), http_port, "restart must reuse the port");
    assert_eq!(names(&server).await, "one\ntwo\nthree\n");
}

#[tokio::test]
async fn data_survives_kill_and_restart() {
    let mut server = ClickHouseServer::start().await.unwrap();
    create_and_fill(&server).await;
    server.kill().await;
    server.restart().await.unwrap();
    assert_eq!(names(&server).await, "one\ntwo\nthree\n", "{}", server.log_tail());
}

#[tokio::test]
async fn failed_query_returns_status_and_exception_text() {
    let server = ClickHouseServer::start().await.unwrap();
    let error = server.query("SELECT * FROM no_such_table").await.unwrap_err();
    match error {
        HarnessError::Query { status, body } => {
            assert_ne!(status, 200);
            assert!(body.contains("no_such_table"), "body: {body}");
        }
        other => panic!("expected Query error, got {other}"),
    }
}

#[tokio::test]
async fn two_servers_start_in_parallel() {
    let (a, b) = tokio::join!(ClickHouseServer::start(), ClickHouseServer::start());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.http_port(), b.http_port());
    assert_ne!(a.tcp_port(), b.tcp_port());
    a.query("CREATE TABLE only_in_a (x UInt8) ENGINE = MergeTree ORDER BY x").await.unwrap();
    let tables_in_b = b.query("SHOW TABLES").await.unwrap();
    assert!(!tables_in_b.contains("only_in_a"));
}

#[tokio::test]
async fn drop_kills_the_process() {
    let server = ClickHouseServer::start().await.unwrap();
    let pid = server.pid().unwrap();
    let data = server.data_dir();
    assert!(process_exists(pid));
    drop(server);
    assert!(!process_exists(pid), "clickhouse-server pid {pid} still exists after drop");
    assert!(!data.exists());
}

#[tokio::test]
async fn clean_stop_does_not_wait_for_the_kill_timeout() {
    let mut server = ClickHouseServer::start().await.unwrap();
    server.query("SELECT 1").await.unwrap();
    let started = Instant::now();
    server.stop().await;
    let took = started.elapsed();
    // ~0.7-1 s here; the SIGKILL fallback would only fire after 5 s.
    assert!(took.as_secs_f64() < 4.0, "stop took {took:?}");
    server.restart().await.unwrap();
    assert_eq!(server.query("SELECT 1").await.unwrap().trim(), "1");
}
