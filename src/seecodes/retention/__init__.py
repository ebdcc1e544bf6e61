"""Retention: rows no rule needs any more are deleted on a schedule, in small batches."""
