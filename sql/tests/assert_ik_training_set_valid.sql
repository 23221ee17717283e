-- assert_ik_training_set_valid: rows of ik_training_set that break its invariants.
-- inputs: ik_training_set
-- params: none
-- grain: one row per failing decision; an empty result means the mart is sound
-- action_index IS NULL: the logged action is not in its candidate set.
SELECT
    event_id,
    action_index,
    num_candidates,
    raw_weight,
    weight
FROM ik_training_set
WHERE action_index IS NULL
    OR action_index < 0
    OR action_index >= num_candidates
    OR NOT (raw_weight > 0)
    OR NOT (weight > 0)
    OR weight > raw_weight
