"""Reports: the evaluation report, Markdown tables and plots."""
