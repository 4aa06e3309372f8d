"""The scenarios `benchmarks.run` measures, one module each: how a scenario is run, its
section of the JSON document, and the targets it is judged by."""
