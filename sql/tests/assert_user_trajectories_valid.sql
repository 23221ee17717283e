-- assert_user_trajectories_valid: steps of user_trajectories that break its invariants.
-- inputs: user_trajectories
-- params: none
-- grain: one row per failing step; an empty result means the mart is sound
SELECT
    user_id,
    session_id,
    step,
    event_id
FROM user_trajectories
WHERE response NOT IN (0, 1)
    OR (done AND next_item IS NOT NULL)
    OR (NOT done AND next_item IS NULL)
    OR array_length(history_items) > step
    OR array_length(next_history_items) < 1
