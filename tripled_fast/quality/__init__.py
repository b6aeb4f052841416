"""Data-efficiency quality harness (``tripled-fast bench-quality``): full data vs random,
k-means, k-center and TripleD subsets of the same size, trained the same way."""
from .harness import ALL_METHODS, QualityConfig, TestSetConfig, build_parser, main, run_quality
from .report import equal_quality_budget, format_table, plot_psnr, summarize, targets

__all__ = ["ALL_METHODS", "QualityConfig", "TestSetConfig", "build_parser", "equal_quality_budget", "format_table",
           "main", "plot_psnr", "run_quality", "summarize", "targets"]
