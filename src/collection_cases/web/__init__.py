"""Server-rendered pages: the front door, the API docs (Swagger UI, ReDoc) and the error
reference, every asset served from the package."""
