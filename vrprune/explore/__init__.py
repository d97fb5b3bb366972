"""Partition-point exploration: enumerate endpoint/server splits, predict and measure them.

    from vrprune.explore import Precedence
    prec = Precedence(graph)
    prec.count()            # (number of partition points, exact)
    prec.points()           # every PartitionPoint
"""

from ._partition import CutEdge, PartitionPoint, Precedence, name_points, privacy_ok, select_points

__all__ = ["CutEdge", "PartitionPoint", "Precedence", "name_points", "privacy_ok", "select_points"]
