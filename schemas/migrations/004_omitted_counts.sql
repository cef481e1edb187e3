-- SecurityEvent schema version 2: an event lists at most 256 findings and 256 ML
-- verdicts (its size stays under the NATS max_payload); the rest are counted here.
-- Rows of version-1 events read 0. ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS:
-- the runner skips an ADD COLUMN whose column `system.columns` already lists.
ALTER TABLE audit_events ADD COLUMN findings_omitted UInt32 DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN ml_verdicts_omitted UInt32 DEFAULT 0;
