-- ik_training_set: the rows the inverse-kinematics classifier trains on, ((x, y) -> a, weight).
-- inputs: stg_logged_decisions
-- params: $max_weight (DOUBLE, or NULL for no clipping)
-- grain: one row per logged decision (event_id), ordered by ts, event_id
--
-- raw_weight = 1 / (K_t * P(a_t | x_t))   (IGL-P, Algorithm 1 line 10)
-- reweights the logging policy into a synthetic policy that is uniform over the row's own
-- candidate set A_t, with K_t = |A_t|. Where K_t varies from row to row this synthesizes the
-- non-uniform distribution of the paper's footnote 2: each row is uniform over its own set,
-- so rewards stay rare whenever fewer than half of each A_t's actions are rewarding.
-- weight = min(raw_weight, $max_weight) trades variance for bias when propensities are tiny.
-- action_index is NULL when the action is not in its candidate set (validation refuses such
-- rows; the data test assert_ik_training_set_valid flags them): array_position gives NULL
-- there on DuckDB and 0 on Spark, hence the NULLIF.
WITH decisions AS (
    SELECT
        event_id,
        ts,
        user_id,
        context,
        feedback,
        candidate_actions,
        num_candidates,
        action,
        CAST(NULLIF(array_position(candidate_actions, action), 0) - 1 AS BIGINT) AS action_index,
        propensity,
        CAST(1 AS DOUBLE) / (num_candidates * propensity) AS raw_weight
    FROM stg_logged_decisions
)
SELECT
    event_id,
    ts,
    user_id,
    context,
    feedback,
    candidate_actions,
    num_candidates,
    action,
    action_index,
    propensity,
    raw_weight,
    CASE
        WHEN $max_weight IS NULL THEN raw_weight
        ELSE LEAST(raw_weight, CAST($max_weight AS DOUBLE))
    END AS weight
FROM decisions
ORDER BY ts, event_id
