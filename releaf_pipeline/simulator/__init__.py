"""The MPS Monitor simulator: a seeded fleet served over HTTPS, for the demo and the tests.

    from releaf_pipeline.simulator.config import FleetConfig
    from releaf_pipeline.simulator.fleet import Fleet
    from releaf_pipeline.simulator.server import Simulator

Each name is imported from the module that defines it, so a caller that only needs the
fleet does not load the HTTP server stack:

- `config`: `FleetConfig` and the late-data cases and scenario facts (NamedTuples)
- `generation`: seeded generation of customers, devices, counters and scenario cases
- `fleet`: `Fleet`, the generated data as the contract's requests and as ground truth
- `contract`: the answers to the contract's four requests, as plain data
- `faults`: the faults that can be injected and what each does to an answer
- `odd_answers`: honest but odd answers the contract allows (null counters, duplicate
  readings, ids in another case), persistent until cleared
- `server`: `Simulator`, the server's clock, switches, request log and lifecycle
- `wire`: the Starlette app and uvicorn, in a background thread, over TLS
- `certs`: the test CA and server certificate, kept in the working directory
- `main`: the `releaf simulator` command
"""
