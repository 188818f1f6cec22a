"""The dashboard at /dashboard: server-rendered pages for the people who work the cases,
built on the same services, scoping and permissions as the API."""
