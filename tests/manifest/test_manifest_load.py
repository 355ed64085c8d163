from pathlib import Path

import pytest

from bosh_py.errors import BoshPyError
from bosh_py.manifest import ManifestError, load_yaml, load_yaml_file


def test_error_string_omits_empty_parts() -> None:
    assert str(ManifestError("boom", path="a/b", source="m.yml")) == "m.yml: a/b: boom"
    assert str(ManifestError("boom", source="m.yml")) == "m.yml: boom"
    assert str(ManifestError("boom", path="a")) == "a: boom"
    assert isinstance(ManifestError("x"), BoshPyError)


def test_collected_errors_one_line_each() -> None:
    error = ManifestError.collect([ManifestError("one", path="a", source="m"), ManifestError("two", path="b", source="m")])
    assert (error.path, error.message) == ("a", "one")
    assert str(error) == "m: a: one\nm: b: two"


def test_malformed_yaml_names_file_line_and_column() -> None:
    with pytest.raises(ManifestError) as caught:
        load_yaml("name: cf\ninstance_groups:\n  - name: x\n   bad: 1\n", "manifest.yml")
    assert str(caught.value).startswith("manifest.yml: line 4, column 4: ")


def test_duplicate_key_is_an_error() -> None:
    with pytest.raises(ManifestError) as caught:
        load_yaml("name: a\nname: b\n", "m.yml")
    assert str(caught.value) == "m.yml: line 2, column 1: found duplicate key 'name'"


@pytest.mark.parametrize(("text", "found"), [("- 1\n", "list"), ("", "an empty document"), ("hello\n", "string")])
def test_top_level_must_be_a_map(text: str, found: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load_yaml(text, "m.yml")
    assert str(caught.value) == f"m.yml: expected a map at the top level, found {found}"


def test_ops_files_are_lists() -> None:
    assert load_yaml("- {type: remove, path: /a}\n", "ops.yml", kind="list") == [{"type": "remove", "path": "/a"}]
    with pytest.raises(ManifestError, match="expected a list at the top level, found map"):
        load_yaml("a: 1\n", "ops.yml", kind="list")


def test_dates_stay_strings_and_unsafe_tags_refused() -> None:
    assert load_yaml("version: 2024-01-02\n") == {"version": "2024-01-02"}
    with pytest.raises(ManifestError):
        load_yaml("a: !!python/object/apply:os.system ['true']\n")


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "vars.yml"
    path.write_text("a: 1\n")
    assert load_yaml_file(path) == {"a": 1}
    with pytest.raises(ManifestError) as caught:
        load_yaml_file(tmp_path / "missing.yml")
    assert str(caught.value).startswith(f"{tmp_path / 'missing.yml'}: cannot read file")
