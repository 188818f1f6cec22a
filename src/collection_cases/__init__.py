"""collection-cases: the Collection Cases debt-collection REST API."""

__version__ = "0.1.0"
