"""Custompms contract (OpenAPI) and its reference server."""
