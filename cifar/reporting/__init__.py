"""What a run leaves behind: atomic file writers, figures, tables and sweep summaries."""
