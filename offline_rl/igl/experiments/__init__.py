"""The IGL-P paper's experiments as functions (each writes a PNG figure and a Parquet table).

* :func:`offline_rl.igl.experiments.covertype.run_covertype_experiment` (Section 4.1, Fig. 2)
"""
