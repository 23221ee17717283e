"""The nightly retraining job: validate -> SQL jobs -> IGL-P (+ QR-IQL) -> evaluate -> report."""
