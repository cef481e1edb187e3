-- Per-session usage (Claude Code sends X-Claude-Code-Session-Id), with first
-- and last activity and the models used. AggregatingMergeTree: read with the
-- -Merge combinators, e.g.
--   SELECT session_id, minMerge(first_seen), maxMerge(last_seen), sumMerge(requests)
--   FROM usage_sessions GROUP BY tenant, project, session_id
CREATE TABLE IF NOT EXISTS usage_sessions
(
    tenant String,
    project String,
    session_id String,
    first_seen AggregateFunction(min, DateTime),
    last_seen AggregateFunction(max, DateTime),
    requests AggregateFunction(sum, UInt64),
    blocked AggregateFunction(sum, UInt64),
    alerted AggregateFunction(sum, UInt64),
    errors AggregateFunction(sum, UInt64),
    input_tokens AggregateFunction(sum, UInt64),
    output_tokens AggregateFunction(sum, UInt64),
    cache_creation_input_tokens AggregateFunction(sum, UInt64),
    cache_read_input_tokens AggregateFunction(sum, UInt64),
    models AggregateFunction(groupUniqArray, String)
)
ENGINE = AggregatingMergeTree()
ORDER BY (tenant, project, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_sessions_mv TO usage_sessions AS
SELECT
    tenant,
    project,
    session_id,
    minState(ts) AS first_seen,
    maxState(ts) AS last_seen,
    sumState(toUInt64(1)) AS requests,
    sumState(toUInt64(decision = 'block')) AS blocked,
    sumState(toUInt64(decision = 'alert')) AS alerted,
    sumState(toUInt64(decision = 'error' OR gateway_status >= 500)) AS errors,
    sumState(input_tokens) AS input_tokens,
    sumState(output_tokens) AS output_tokens,
    sumState(cache_creation_input_tokens) AS cache_creation_input_tokens,
    sumState(cache_read_input_tokens) AS cache_read_input_tokens,
    groupUniqArrayState(model) AS models
FROM audit_events
WHERE kind = 'request' AND session_id != ''
GROUP BY tenant, project, session_id;
