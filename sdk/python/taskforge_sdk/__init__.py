"""The TaskForge Python SDK: submit jobs, and run workers that execute them.

The public surface is what this module exports; ``tests/unit/test_sdk_surface.py`` pins it.
"""

from taskforge_sdk.client import ApiError, TaskForgeClient
from taskforge_sdk.errors import NonRetryable, Retry
from taskforge_sdk.worker import JobContext, Worker, current_job

__all__ = ["ApiError", "JobContext", "NonRetryable", "Retry", "TaskForgeClient", "Worker", "current_job"]
