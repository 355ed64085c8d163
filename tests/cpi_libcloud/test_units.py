"""Pure pieces of the libcloud CPI and of the moto adapter, without a server."""

from __future__ import annotations

import pytest

from cpi.libcloud.config import Config
from cpi.protocol import redact
from cpi.libcloud.providers.aws_errors import error_code
from cpi.libcloud.providers.aws_instance_types import smallest_fitting
from cpi.libcloud.retry import with_backoff
from tests.cpi_libcloud.moto_adapter import renumber_from_one


def test_tag_parameters_numbered_from_zero_are_renumbered_from_one() -> None:
    params = [("Action", "CreateTags"), ("ResourceId.0", "vol-1"), ("Tag.0.Key", "a"),
              ("Tag.0.Value", "1"), ("Tag.1.Key", "b"), ("Tag.1.Value", "2")]
    assert renumber_from_one(params) == [
        ("Action", "CreateTags"), ("ResourceId.1", "vol-1"), ("Tag.1.Key", "a"),
        ("Tag.1.Value", "1"), ("Tag.2.Key", "b"), ("Tag.2.Value", "2")]
    already = [("ResourceId.1", "vol-1"), ("Tag.1.Key", "a")]
    assert renumber_from_one(already) == already


@pytest.mark.parametrize(("cpu", "ram", "expected"), [
    (1, 512, "t3.micro"), (2, 2048, "t3.small"), (2, 5000, "m5.large"),
    (4, 9000, "m5.xlarge"), (96, 393216, "m5.24xlarge"), (128, 1024, None)])
def test_smallest_instance_type_that_fits(cpu: int, ram: int, expected: str | None) -> None:
    assert smallest_fitting(cpu, ram) == expected


def test_backoff_retries_only_throttling_and_doubles_the_delay() -> None:
    delays: list[float] = []
    answers = iter([RuntimeError("RequestLimitExceeded: slow down")] * 3 + ["ok"])

    def call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    throttled = lambda e: error_code(e) == "RequestLimitExceeded"
    assert with_backoff(call, throttled, sleep=delays.append) == "ok"
    assert delays == [0.5, 1.0, 2.0]
    with pytest.raises(RuntimeError, match="InvalidVolume"):
        with_backoff(lambda: (_ for _ in ()).throw(RuntimeError("InvalidVolume.NotFound: x")),
                     throttled, sleep=delays.append)
    assert len(delays) == 3  # not retried


def test_every_credential_is_redacted_longest_first() -> None:
    config = Config("aws", {"access_key_id": "AKIA1", "secret_access_key": "AKIA1-and-more",
                            "region": "us-east-1"})
    assert config.secrets() == ["AKIA1-and-more", "AKIA1"]
    assert "secret_access_key" not in repr(config) and "AKIA1" not in repr(config)
    assert redact("key AKIA1-and-more / AKIA1", config.secrets()) == "key <redacted> / <redacted>"
