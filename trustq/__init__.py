"""trustq: trust evaluation of freelancer profiles."""

__version__ = "0.1.0"
