-- decoded_reward_by_signal: what each feedback signal decodes to (IGL-P Eq. 4).
-- inputs: decoded_rewards (event_id, user_id, feedback, k_p_hat, is_extreme, decoded_reward)
-- params: none
-- grain: one row per feedback signal
SELECT
    feedback,
    CAST(COUNT(*) AS BIGINT) AS events,
    AVG(decoded_reward) AS mean_decoded_reward,
    AVG(CASE WHEN decoded_reward > 0 THEN 1.0 ELSE 0.0 END) AS positive_share,
    AVG(CASE WHEN decoded_reward < 0 THEN 1.0 ELSE 0.0 END) AS negative_share,
    AVG(CASE WHEN decoded_reward = 0 THEN 1.0 ELSE 0.0 END) AS zero_share,
    AVG(k_p_hat) AS mean_k_p_hat
FROM decoded_rewards
GROUP BY feedback
ORDER BY events DESC, feedback
