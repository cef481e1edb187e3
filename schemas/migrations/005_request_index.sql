-- SecurityEvent schema version 3: a finding's or ML verdict's segment may lie in one of
-- the requests of a Message Batches body; its index in `requests` (-1: a Messages call).
-- Rows written before this migration read an empty array: zip these arrays with the other
-- finding_* / ml_* arrays by position and treat a missing element as -1.
ALTER TABLE audit_events ADD COLUMN finding_request_index Array(Int32);
ALTER TABLE audit_events ADD COLUMN ml_request_index Array(Int32);
