//! The config.xml and users.xml a test ClickHouse 18.16 needs to run unprivileged
//! from a temp dir: every path points inside that dir, it listens on 127.0.0.1
//! only, and the default user has no password.

use std::path::Path;

/// Ports and paths of one test server.
pub(crate) struct ClickHouseLayout<'a> {
    pub root: &'a Path,
    pub http_port: u16,
    pub tcp_port: u16,
    pub interserver_port: u16,
}

/// Renders config.xml. ClickHouse wants directory paths with a trailing slash.
pub(crate) fn config_xml(layout: &ClickHouseLayout<'_>) -> String {
    let dir = |name: &str| xml_escape(&format!("{}/{name}/", layout.root.display()));
    let file = |name: &str| xml_escape(&layout.root.join(name).display().to_string());
    format!(
        r#"<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{log}</log>
        <errorlog>{errorlog}</errorlog>
        <size>10M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <interserver_http_port>{interserver}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <path>{data}</path>
    <tmp_path>{tmp}</tmp_path>
    <user_files_path>{user_files}</user_files_path>
    <format_schema_path>{format_schemas}</format_schema_path>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <max_concurrent_queries>100</max_concurrent_queries>
    <!-- As in the packaged config (the built-in default is 10 s). A clean
         shutdown waits for idle keep-alive connections, so this bounds stop(). -->
    <keep_alive_timeout>3</keep_alive_timeout>
    <shutdown_wait_unfinished>1</shutdown_wait_unfinished>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
</yandex>
"#,
        log = file("log/server.log"),
        errorlog = file("log/server.err.log"),
        http = layout.http_port,
        tcp = layout.tcp_port,
        interserver = layout.interserver_port,
        data = dir("data"),
        tmp = dir("tmp"),
        user_files = dir("user_files"),
        format_schemas = dir("format_schemas"),
        users = file("users.xml"),
    )
}

/// Renders users.xml: user `default`, empty password, loopback only, unlimited quota.
pub(crate) fn users_xml() -> &'static str {
    r#"<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"#
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
