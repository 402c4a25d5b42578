"""Reports of training runs: an HTML page of sample grids, curves and tables; a Markdown summary.

``write_report(["runs/00000-wgan-gp-mnist", "runs/00001-wgan-mnist"], out="report.html")`` reads
each run folder (`collect`), draws the figures (`figures`) and writes the page (`html`), the
summary (`markdown`) and the figure PNGs.
"""

from genlab.report.build import ReportFiles, write_report
from genlab.report.collect import RunSummary, collect_run

__all__ = ["ReportFiles", "RunSummary", "collect_run", "write_report"]
