"""offline_rl: batch offline reward learning for recommender systems.

IGL-P (personalized interaction-grounded learning), QR-IQL / MTRec (distributional
inverse soft-Q mental rewards) and off-policy evaluation, fitted from logs.
"""

__version__ = "0.1.0"
