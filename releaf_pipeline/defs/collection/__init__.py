"""Collection: meter readings to daily deposits."""
