"""Telling the operator: what the pipeline says when something changes, over which
channels (email over SMTP, a chat webhook), and how each message is delivered once."""
