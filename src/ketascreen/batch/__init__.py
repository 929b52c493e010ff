"""Population screening: the one ruleset compiled to dataframe expressions.

``schema.py`` says which columns a facts table has; ``expressions.py`` compiles the
condition language, instrument scoring and the disposition logic once, over a small
backend interface, and ``polars_backend.py`` / ``spark_backend.py`` supply the column
operations of each engine, so Polars and Spark run the very same definitions (and the
same thresholds) as the single-person engine.
"""
