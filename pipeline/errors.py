"""Errors the pipeline raises on purpose: each names what is wrong, never a bare traceback."""

from __future__ import annotations


class RidershipError(Exception):
    """Base class: an expected, explained failure (the CLI prints it without a traceback)."""


class DataSourceError(RidershipError):
    """The data source cannot be read (missing file, unreachable URL, bad encoding, empty)."""


class StorageError(RidershipError):
    """An object could not be written where it belongs (disk full, no permission, store down);
    nothing half-written was published."""


class DataValidationError(RidershipError):
    """The data was read but breaks the validation suite."""

    def __init__(self, message: str, failures: list[dict] | None = None, data_docs_uri: str | None = None):
        super().__init__(message)
        self.failures = failures or []
        self.data_docs_uri = data_docs_uri


class TrainingError(RidershipError):
    """A model family failed to train (exception or non-finite loss)."""


class PromotionError(RidershipError):
    """No candidate could be considered for promotion."""


class NoChampionError(RidershipError):
    """There is no champion model to forecast with yet."""
