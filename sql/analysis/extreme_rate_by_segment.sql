-- extreme_rate_by_segment: how often the IGL-P decoder declares an extreme event
-- (K * P_hat(a | x, y) > 2), by user segment and feedback signal.
-- inputs: decoded_rewards (event_id, user_id, feedback, k_p_hat, is_extreme, decoded_reward),
--         user_segments (user_id, segment; users absent from it fall in segment 'all')
-- params: none
-- grain: one row per (segment, feedback)
-- Shares average integer 0/1 flags: DOUBLE on both engines (1.0/0.0 literals made Spark's
-- AVG a DECIMAL(6,5), 0.33333 instead of 0.3333333333333333).
SELECT
    COALESCE(s.segment, 'all') AS segment,
    d.feedback,
    CAST(COUNT(*) AS BIGINT) AS events,
    CAST(SUM(CASE WHEN d.is_extreme THEN 1 ELSE 0 END) AS BIGINT) AS extreme_events,
    AVG(CASE WHEN d.is_extreme THEN 1 ELSE 0 END) AS extreme_rate,
    AVG(d.k_p_hat) AS mean_k_p_hat
FROM decoded_rewards AS d
LEFT JOIN user_segments AS s ON d.user_id = s.user_id
GROUP BY ALL
ORDER BY segment, feedback
