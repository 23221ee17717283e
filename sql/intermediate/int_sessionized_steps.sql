-- int_sessionized_steps: each user's decisions in time order, cut into sessions.
-- inputs: stg_logged_decisions, signal_responses (feedback, response: 1 positive / 0 negative)
-- params: $session_gap_seconds (a gap longer than this starts a new session)
-- grain: one row per logged decision (event_id)
-- A signal missing from signal_responses counts as positive engagement (response 1).
-- The gap is measured exactly, in whole microseconds (the timestamps' resolution), and
-- compared with $session_gap_seconds * 1e6 as a DOUBLE: 1800.5 s > 1800 s on both engines.
-- It used to be EPOCH(ts) - EPOCH(previous_ts), fractional seconds on DuckDB but
-- whole-second UNIX_TIMESTAMP once transpiled to Spark, so a gap of 1800.5 s started a new
-- session on DuckDB only. DuckDB's sessions are unchanged by the rewrite.
WITH responses AS (
    SELECT
        d.user_id,
        d.event_id,
        d.ts,
        d.context,
        d.action AS item,
        d.feedback,
        CAST(COALESCE(s.response, 1) AS BIGINT) AS response,
        LAG(d.ts) OVER (PARTITION BY d.user_id ORDER BY d.ts, d.event_id) AS previous_ts
    FROM stg_logged_decisions AS d
    LEFT JOIN signal_responses AS s ON d.feedback = s.feedback
),
starts AS (
    SELECT
        user_id,
        event_id,
        ts,
        context,
        item,
        feedback,
        response,
        CASE
            WHEN previous_ts IS NULL THEN 1
            WHEN date_diff('microsecond', previous_ts, ts) > CAST($session_gap_seconds AS DOUBLE) * 1000000 THEN 1
            ELSE 0
        END AS starts_session
    FROM responses
)
SELECT
    user_id,
    CAST(SUM(starts_session) OVER (
        PARTITION BY user_id ORDER BY ts, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) - 1 AS BIGINT) AS session_id,
    event_id,
    ts,
    context,
    item,
    feedback,
    response
FROM starts
