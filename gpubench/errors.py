"""The errors gpubench raises on purpose. The CLI turns each into one red line and exit code 2."""

from __future__ import annotations


class GpubenchError(Exception):
    """Base class: a problem the user can fix (bad input, missing hardware, damaged file)."""


class SuiteError(GpubenchError):
    """A suite file or a case parameter is invalid. The message names the file and the key path."""


class ResultFormatError(GpubenchError):
    """A results file is too old, too new or damaged. The message says what to do."""


class StorageError(GpubenchError):
    """A run folder or report cannot be created, read or written (bad path, no permission, full disk, locked).

    The message names the path and what is wrong with it.
    """


class BackendUnavailable(GpubenchError):
    """A device, library or reader is not available here. The message says why."""


class RankLost(GpubenchError):
    """A rank of a distributed run died, hung or lost contact: the whole run stops (finished cases are kept).

    The message names the rank. The runner lets it through instead of recording a failed case.
    """


class Unsupported(Exception):
    """Raised by a benchmark factory when the device cannot run a case (e.g. fp8 before Hopper).

    The runner records the case as `skipped` with this message as the reason; not a user error.
    """
