"""Firewatch: monitoring and operations for a Firebase app.

The package is importable without the Cloud Functions runtime: ``functions/main.py`` is the
only place that knows about triggers. Google clients are created on first use (see
``monitoring.store``), so importing any module here stays cheap.
"""

__version__ = "0.1.0"
