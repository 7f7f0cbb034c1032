"""Return visits and care (回访、关怀): the per-user 今日待办 list."""
