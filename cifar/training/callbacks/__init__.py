"""Callbacks that change training: Lightning has none of them (each file says why it is ours)."""
