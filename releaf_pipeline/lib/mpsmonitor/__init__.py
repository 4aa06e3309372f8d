"""MPS Monitor: the contract's typed models, the async HTTPS client and the simulator.

Everything that depends on the vendor's wire format lives in this package, so a server
that differs from the contract changes this package and nothing else.
"""
