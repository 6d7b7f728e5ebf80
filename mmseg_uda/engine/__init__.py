from . import hooks, optimizers, runner, schedulers  # noqa: F401
