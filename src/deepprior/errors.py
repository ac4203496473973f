"""Exceptions that the command line turns into one clear line and a non-zero exit."""


class DeepPriorError(Exception):
    """Base class of every error that is the user's to fix (bad file, bad parameter, bad device)."""


class InputError(DeepPriorError, ValueError):
    """An input file, array or parameter cannot be used as given."""


class DeviceError(DeepPriorError, RuntimeError):
    """The requested compute device does not exist or ran out of memory."""
