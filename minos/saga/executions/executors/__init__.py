from .abc import Executor
from .local import LocalExecutor
from .request import RequestExecutor
from .response import ResponseExecutor

__all__ = ["Executor", "LocalExecutor", "RequestExecutor", "ResponseExecutor"]
