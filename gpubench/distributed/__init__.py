"""Multi-GPU and multi-node runs on PyTorch's distributed engine, launched with torchrun.

Torch-free here (reports and the launching parent import it): bus-bandwidth factors, merging rank rows,
scaling efficiency, ranks.parquet, the torchrun launcher. The rank side (process group, lockstep timer,
the per-rank suite loop) is in `gpubench.distributed.context` and `gpubench.distributed.rank`, which import torch.
"""

from gpubench.distributed.launch import LaunchResult, is_rank_process, torchrun_command
from gpubench.distributed.results import (
    add_scaling_columns,
    busbw_factor,
    load_rank_rows,
    merge_rank_rows,
    scaling_efficiency,
    scaling_table,
)

__all__ = [
    "LaunchResult",
    "add_scaling_columns",
    "busbw_factor",
    "is_rank_process",
    "load_rank_rows",
    "merge_rank_rows",
    "scaling_efficiency",
    "scaling_table",
    "torchrun_command",
]
