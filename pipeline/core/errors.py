"""The project's domain errors; the CLI turns each into one clear message and an exit code."""


class PipelineError(Exception):
    """Base class: something the user can fix, described in words that say what to change."""


class InputDataError(PipelineError):
    """A seed file or dataset the user gave is unreadable or malformed; the message names file, line and field."""


class TeacherError(PipelineError):
    """The teacher refused the request in a way retrying cannot fix (bad key, unknown model, bad parameter)."""


class RunDirError(PipelineError):
    """The run folder cannot be used as asked (it holds another run, or is not a run folder)."""


class HubError(PipelineError):
    """The Hugging Face Hub cannot take an upload: no token, no network, or the Hub refused it."""
