"""tripled-fast: distil paired image-restoration datasets (TripleD) and restoration models (SLKD)."""
__version__ = "0.1.0"
