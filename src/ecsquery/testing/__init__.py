"""Test support shipped in its own namespace, as pySigma ships sigma/backends/test: never imported by the runtime."""  # noqa: E501
