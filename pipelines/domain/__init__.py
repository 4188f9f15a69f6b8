"""Domain logic with no I/O and no Dagster: eras, grading rules, the personal identifier."""
