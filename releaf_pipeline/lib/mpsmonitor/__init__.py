"""MPS Monitor: the contract's typed models and the async HTTPS client.

Everything that depends on the vendor's wire format lives in this package, so a server
that differs from the contract changes this package and nothing else.
"""
