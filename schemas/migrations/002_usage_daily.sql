-- Token-usage analytics per day x tenant x project x model, fed by a
-- materialized view on every insert into audit_events. Only request events
-- count (follow-up detections describe an already counted request).
-- The audit-writer inserts each event at most once (redelivered batches are
-- checked against audit_events before insert), which keeps these sums exact.
-- Query with sum() ... GROUP BY: SummingMergeTree collapses rows only on merge.
CREATE TABLE IF NOT EXISTS usage_daily
(
    day Date,
    tenant String,
    project String,
    model String,
    requests UInt64,
    allowed UInt64,
    alerted UInt64,
    blocked UInt64,
    auth_failed UInt64,
    errors UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    cache_creation_input_tokens UInt64,
    cache_read_input_tokens UInt64,
    bytes_in UInt64,
    bytes_out UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, tenant, project, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv TO usage_daily AS
SELECT
    toDate(ts) AS day,
    tenant,
    project,
    model,
    toUInt64(1) AS requests,
    toUInt64(decision = 'allow') AS allowed,
    toUInt64(decision = 'alert') AS alerted,
    toUInt64(decision = 'block') AS blocked,
    toUInt64(decision = 'auth_failed') AS auth_failed,
    toUInt64(decision = 'error' OR gateway_status >= 500) AS errors,
    input_tokens,
    output_tokens,
    cache_creation_input_tokens,
    cache_read_input_tokens,
    bytes_in,
    bytes_out
FROM audit_events
WHERE kind = 'request';
