-- decoded_reward_by_signal: what each feedback signal decodes to (IGL-P Eq. 4).
-- inputs: decoded_rewards (event_id, user_id, feedback, k_p_hat, is_extreme, decoded_reward)
-- params: none
-- grain: one row per feedback signal
-- Shares average integer 0/1 flags: DOUBLE on both engines (1.0/0.0 literals made Spark's
-- AVG a DECIMAL(6,5), 0.33333 instead of 0.3333333333333333).
SELECT
    feedback,
    CAST(COUNT(*) AS BIGINT) AS events,
    AVG(decoded_reward) AS mean_decoded_reward,
    AVG(CASE WHEN decoded_reward > 0 THEN 1 ELSE 0 END) AS positive_share,
    AVG(CASE WHEN decoded_reward < 0 THEN 1 ELSE 0 END) AS negative_share,
    AVG(CASE WHEN decoded_reward = 0 THEN 1 ELSE 0 END) AS zero_share,
    AVG(k_p_hat) AS mean_k_p_hat
FROM decoded_rewards
GROUP BY feedback
ORDER BY events DESC, feedback
