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


class CellFailed(RvfError):
    """Too many samples of a cell failed to generate; its answers so far stay in the cache.

    `model_calls` is what the cell sent before it failed, so the run's summary counts it. It is
    one of `args`, so the error survives pickling (a Ray worker sends it to the driver).
    """

    def __init__(self, message: str, model_calls: int = 0) -> None:
        super().__init__(message, model_calls)
        self.model_calls = model_calls

    def __str__(self) -> str:
        return str(self.args[0])


class CellMismatch(RvfError):
    """A Ray worker computed a different cell key than the driver (another rvf or other data)."""


class EndpointError(UsageError):
    """The endpoint refused in a way no retry fixes (bad key, no access, unknown model, no quota)."""


class FineTuneFailed(RvfError):
    """A hosted fine-tuning job failed or was cancelled; the message has the API's reason."""


class FineTuneTimeout(RvfError):
    """A hosted fine-tuning job did not finish within poll_timeout_s (it goes on; re-run resumes)."""
