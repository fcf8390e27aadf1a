"""An offline Asana API sandbox for demos, tests and benchmarks."""
