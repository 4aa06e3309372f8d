"""MPS Monitor: the contract's typed models and the async HTTPS client.

Everything that depends on the vendor's wire format lives in this package, so a server
that differs from the contract changes this package and nothing else:

- `contract`: the contract's paths, statuses and limits (no logic);
- `settings`: `ClientSettings`;
- `endpoint`: URL, TLS and dealer-token checks (pure);
- `transport`: HTTPS, the adaptive concurrency limit, time-outs, size caps and retries;
- `decoding`: JSON answers to the typed `models`, field by field;
- `client`: `MPSMonitorClient`, the contract's four requests;
- `errors`: the one-line `MPSMonitorError`s.
"""
