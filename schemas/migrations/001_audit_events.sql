-- One row per SecurityEvent (schemas/src/event.rs).
-- Valid on ClickHouse 18.16 and current versions: no DateTime64, TTL, CODEC,
-- Map or LowCardinality. Delivery is at-least-once, so rows are made
-- idempotent: ReplacingMergeTree whose sorting key ends in the event id (the
-- other key columns are functions of the event, so a redelivered copy has the
-- same key and collapses on merge). Exact queries use FINAL.
-- Findings and ML verdicts are stored as parallel arrays (element i of every
-- finding_* column describes finding i); message/block indexes use -1 for "none".
CREATE TABLE IF NOT EXISTS audit_events
(
    event_id UUID,
    schema_version UInt16,
    kind Enum8('request' = 1, 'follow_up_detection' = 2),
    related_event_id Nullable(UUID),
    ts DateTime,
    ts_ms Int64,
    tenant String,
    project String,
    client_id String,
    session_id String,
    path String,
    method String,
    tool_name String,
    mcp_server String,
    model String,
    has_system_prompt UInt8,
    max_tokens Nullable(UInt32),
    stream UInt8,
    tool_count UInt32,
    input_tokens UInt64,
    output_tokens UInt64,
    cache_creation_input_tokens UInt64,
    cache_read_input_tokens UInt64,
    stop_reason String,
    upstream_status Nullable(UInt16),
    gateway_status UInt16,
    decision Enum8('allow' = 1, 'alert' = 2, 'block' = 3, 'auth_failed' = 4, 'error' = 5),
    reasons Array(String),
    finding_detector_id Array(String),
    finding_category Array(String),
    finding_confidence Array(Float32),
    finding_source Array(String),
    finding_role Array(String),
    finding_message_index Array(Int32),
    finding_block_index Array(Int32),
    finding_redacted Array(String),
    ml_label Array(String),
    ml_score Array(Float32),
    ml_model_id Array(String),
    ml_model_version Array(String),
    ml_source Array(String),
    ml_message_index Array(Int32),
    ml_block_index Array(Int32),
    latency_total_ms UInt64,
    upstream_ms Nullable(UInt64),
    overhead_us UInt64,
    user_agent String,
    bytes_in UInt64,
    bytes_out UInt64,
    content_json Nullable(String),
    inserted_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant, project, ts, event_id);
