"""Partition-point exploration: enumerate endpoint/server splits, predict and measure them.

    from vrprune.explore import Precedence
    prec = Precedence(graph)
    prec.count()            # (number of partition points, exact)
    prec.points()           # every PartitionPoint
"""

from ._partition import CutEdge, PartitionPoint, Precedence, name_points, privacy_ok, select_points
from ._plot import nothing_to_plot, write_png
from ._report import failure_lines, render_csv, render_json, render_text
from ._runners import DistributedRunner
from ._sweep import EmulatedRunner, run_sweep, write_point_files

__all__ = ["CutEdge", "DistributedRunner", "EmulatedRunner", "PartitionPoint", "Precedence", "failure_lines",
           "name_points", "nothing_to_plot", "privacy_ok", "render_csv", "render_json", "render_text", "run_sweep",
           "select_points", "write_png", "write_point_files"]
