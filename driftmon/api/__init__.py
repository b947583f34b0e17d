"""The HTTP API the daemon serves (Starlette): routes, their OpenAPI document, paging and links.

server.py     the routes: push intake, sample listing and pictures, compare, health, metrics
openapi.py    the OpenAPI 3.1 document of those routes (pure)
cursor.py     the opaque keyset cursors of the sample listing (pure)
links.py      the links an alert carries to these pages and the dashboard (pure)
compare.py    `/v1/compare`: two model versions side by side from their recent samples (pure)

Nothing is imported here, so `driftmon.rules` can use `links` without loading the server.
"""

__all__: list[str] = []
