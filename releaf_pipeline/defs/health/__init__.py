"""Health: server checks, feed freshness, and the catch-up sensor."""
