"""xlplan: the yearly evaluation cycle of Japanese local welfare plans, in Excel."""

__version__ = "0.1.0"
