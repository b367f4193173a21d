"""The HTTP side of the service: the /v1 routes, request validation, guards, errors, downloads and
the published contract."""
