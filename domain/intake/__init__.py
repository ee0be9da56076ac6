"""Alert intake: monitoring tools open, acknowledge and resolve incidents through PagerDuty-style events."""
