"""VBA sources of the coordinator panel (``*.bas``), installed as the data package
``xlplan.macros``; :mod:`xlplan.panel` builds them into the panel's VBA project."""
