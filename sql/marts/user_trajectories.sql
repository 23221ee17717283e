-- user_trajectories: (s, a, s', done) steps that QR-IQL trains on.
-- inputs: int_sessionized_steps
-- params: $history_length (items of recent history in a state, >= 1)
-- grain: one row per logged decision (event_id), ordered by user_id, session_id, step
--
-- s  = (history_items, history_responses, item): up to $history_length earlier steps of the
--      same session, oldest first, and the candidate item shown now;
-- a  = response, the user's reaction to the item (1 positive / 0 negative);
-- s' = (next_history_items, next_history_responses, next_item): the history including this
--      step, and the next item shown in the session; done marks the session's last step,
--      where next_item and next_event_id are NULL.
SELECT
    user_id,
    session_id,
    CAST(ROW_NUMBER() OVER (PARTITION BY user_id, session_id ORDER BY ts, event_id) - 1 AS BIGINT) AS step,
    event_id,
    ts,
    context,
    item,
    feedback,
    response,
    COALESCE(
        LIST(item) OVER (
            PARTITION BY user_id, session_id ORDER BY ts, event_id
            ROWS BETWEEN $history_length PRECEDING AND 1 PRECEDING
        ),
        CAST([] AS BIGINT[])
    ) AS history_items,
    COALESCE(
        LIST(response) OVER (
            PARTITION BY user_id, session_id ORDER BY ts, event_id
            ROWS BETWEEN $history_length PRECEDING AND 1 PRECEDING
        ),
        CAST([] AS BIGINT[])
    ) AS history_responses,
    LEAD(event_id) OVER (PARTITION BY user_id, session_id ORDER BY ts, event_id) AS next_event_id,
    LEAD(item) OVER (PARTITION BY user_id, session_id ORDER BY ts, event_id) AS next_item,
    LIST(item) OVER (
        PARTITION BY user_id, session_id ORDER BY ts, event_id
        ROWS BETWEEN $history_length - 1 PRECEDING AND CURRENT ROW
    ) AS next_history_items,
    LIST(response) OVER (
        PARTITION BY user_id, session_id ORDER BY ts, event_id
        ROWS BETWEEN $history_length - 1 PRECEDING AND CURRENT ROW
    ) AS next_history_responses,
    LEAD(event_id) OVER (PARTITION BY user_id, session_id ORDER BY ts, event_id) IS NULL AS done
FROM int_sessionized_steps
ORDER BY user_id, session_id, step
