"""Presentation: text tables and lines (text), plots (plots) and the report files (report)."""
