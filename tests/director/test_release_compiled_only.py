"""A package that came in a compiled release has no source: on a stemcell it was not compiled
for, the deploy must stop with an error naming it before any compilation VM is made, rather
than send an agent a source blob id that does not exist."""

from __future__ import annotations

import asyncio

import pytest

from bosh_py.director.compiler import (
    CompilationError,
    SourcePackage,
    StemcellRef,
    compile_packages,
)
from bosh_py.director.config import bundled_cpi
from bosh_py.director.event_log import TaskLog

SOURCELESS = SourcePackage("kv", "data", "d" * 40, (), "", "")
STEMCELL = StemcellRef("bosh-py-local", "debian-bookworm", "2.0", (("default", "stemcell-cid"),))


def test_a_sourceless_package_not_compiled_for_the_stemcell_fails_before_any_vm(make_director, tmp_path):
    director = make_director(bundled_cpi())
    vms_made: list[int] = []

    async def create_vm(number: int):  # type: ignore[no-untyped-def]
        vms_made.append(number)
        raise AssertionError("no compilation VM may be created")

    with pytest.raises(CompilationError) as raised:
        asyncio.run(compile_packages(director, {("kv", "data"): SOURCELESS}, STEMCELL, 2, create_vm,
                                     TaskLog(tmp_path / "task", 1)))
    assert "kv/data came compiled, without source" in str(raised.value)
    assert "debian-bookworm/2.0" in str(raised.value)
    assert vms_made == []
