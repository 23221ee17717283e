-- stg_logged_decisions: validated logs in canonical types, without the hidden reward.
-- inputs: logs (canonical raw log schema; validated by offline_rl.data.loading on entry)
-- params: none
-- grain: one row per logged decision (event_id, unique)
-- The simulation-only `reward` column is deliberately not selected: nothing downstream
-- of staging can read it.
SELECT
    event_id,
    CAST(ts AS TIMESTAMPTZ) AS ts,
    user_id,
    CAST(context AS FLOAT[]) AS context,
    CAST(candidate_actions AS BIGINT[]) AS candidate_actions,
    CAST(array_length(candidate_actions) AS BIGINT) AS num_candidates,
    CAST(action AS BIGINT) AS action,
    CAST(propensity AS DOUBLE) AS propensity,
    CAST(feedback AS VARCHAR) AS feedback
FROM logs
