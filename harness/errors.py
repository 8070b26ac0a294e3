"""Errors that the CLI maps to exit codes: bad usage or input exits 2, anything else exits 1."""


class RvfError(Exception):
    """Base class of rvf's own errors; the message is meant for the user as is."""


class UsageError(RvfError):
    """Unknown name, bad argument, impossible combination: exit code 2."""


class DataError(RvfError):
    """Malformed input data. The message names the file, the line or item, and what is wrong."""


class CellSkipped(RvfError):
    """A cell that ends by design before anything is scored (a strategy's dry run): no record is
    written and the run does not fail; the message says what was done instead."""


# Share of a cell's samples allowed to fail generation (API errors after retries) before the cell
# fails; failed samples are recorded as errors, never scored as wrong answers.
DEFAULT_MAX_ERROR_RATE = 0.02
