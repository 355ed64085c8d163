"""`bosh-py stemcell build-light`: each definition under stemcells/ becomes a light stemcell
tarball the director's upload path reads, whose cloud_properties the real libcloud CPI's
create_stemcell accepts (EC2 through moto, OpenStack through the emulator, vSphere through
vcsim); bad input is a clear error, exit 1, and no file."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from bosh_py.director.jobs.upload_stemcell import read_stemcell
from bosh_py.stemcell.light import known_definitions
from bosh_py.stemcell.local import STEMCELL_NAME, STEMCELL_VERSION
from tests.cpi_libcloud.support import (
    REGION,
    Cpi,
    MotoEc2,
    make_world,
    write_config,
)
from tests.cpi_libcloud.emulator_fixtures import moto, openstack_cloud  # noqa: F401  (fixtures)
from tests.cpi_libcloud.vsphere_support import (  # noqa: F401  (fixtures)
    TEMPLATE,
    VsphereWorld,
    vcsim,
    vsphere,
    vsphere_cpi,
)
from tests.iaas.openstack_fake import OpenStackFake

REPO = Path(__file__).resolve().parents[2]
BOSH_PY = Path(sys.executable).parent / "bosh-py"
STEMCELLS = REPO / "stemcells"
GLANCE_ID = "6a1b9c3e-0f2d-4e5a-9b7c-1d2e3f4a5b6c"
# One good command line per shipped definition, and the cloud_properties it must produce.
GOOD = {
    "aws": (["ami.us-east-1=ami-0123456789abcdef0", "ami.eu-west-1=ami-0fedcba9"],
            {"ami": {"eu-west-1": "ami-0fedcba9", "us-east-1": "ami-0123456789abcdef0"}}),
    "openstack": ([f"image_id={GLANCE_ID}"], {"image_id": GLANCE_ID}),
    "vsphere": (["template=debian-12-bosh-py"], {"template": "debian-12-bosh-py"}),
}


def build_light(cwd: Path, definition: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, as an operator runs it."""
    return subprocess.run([str(BOSH_PY), "stemcell", "build-light", str(definition), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def sets(assignments: list[str]) -> list[str]:
    return [word for assignment in assignments for word in ("--set", assignment)]


def one_line(text: str) -> str:
    """The CLI's message with rich's line wrapping undone."""
    return " ".join(text.split())


def built(tmp_path: Path, iaas: str, *extra: str) -> Path:
    output = tmp_path / f"{iaas}.tgz"
    done = build_light(tmp_path, STEMCELLS / iaas, *sets(GOOD[iaas][0]), "--output", str(output), *extra)
    assert done.returncode == 0, done.stderr
    return output


def test_every_shipped_definition_has_a_case_here() -> None:
    assert known_definitions() == sorted(GOOD)


@pytest.mark.parametrize("iaas", sorted(GOOD))
def test_each_definition_builds_a_tarball_the_director_reads(tmp_path: Path, iaas: str) -> None:
    output = built(tmp_path, iaas)
    definition = yaml.safe_load((STEMCELLS / iaas / "light-stemcell.yml").read_text())
    workdir = tmp_path / "director"
    workdir.mkdir()
    manifest, image = read_stemcell(output, workdir)  # the director's own upload parser
    assert manifest == {
        "name": definition["name"], "version": "1.0", "operating_system": "debian-bookworm",
        "stemcell_formats": definition["stemcell_formats"], "api_version": 2,
        "sha1": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "cloud_properties": GOOD[iaas][1]}
    assert image.read_bytes() == b""
    with tarfile.open(output) as tar:
        assert tar.getnames() == ["stemcell.MF", "image"]
    assert output.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["director", f"{iaas}.tgz"])  # no temp left


def test_same_input_same_bytes_and_version_override(tmp_path: Path) -> None:
    first = build_light(tmp_path, STEMCELLS / "aws", *sets(GOOD["aws"][0]), "--output", "a.tgz")
    again = build_light(tmp_path, STEMCELLS / "aws", *sets(list(reversed(GOOD["aws"][0]))),
                        "--output", "b.tgz")
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert (tmp_path / "a.tgz").read_bytes() == (tmp_path / "b.tgz").read_bytes()
    other = build_light(tmp_path, STEMCELLS / "aws", *sets(GOOD["aws"][0]), "--version", "1.0.7")
    assert other.returncode == 0, other.stderr
    default_name = tmp_path / "light-bosh-py-aws-debian-bookworm-1.0.7.tgz"
    assert f"Stemcell: {default_name.name}" in one_line(other.stdout)
    manifest, _ = read_stemcell(default_name, tmp_path)
    assert manifest["version"] == "1.0.7"


BAD = [
    pytest.param("gce", [], "unknown light stemcell definition", id="unknown-definition"),
    pytest.param("aws", [], "cloud property 'ami' is required", id="missing-ami"),
    pytest.param("aws", sets(["ami.us-east-1=ami-0123"]), "--set ami.us-east-1: malformed ami 'ami-0123'",
                 id="malformed-ami"),
    pytest.param("aws", sets(["ami=ami-0123456789abcdef0"]), "--set ami: 'ami' is per region",
                 id="ami-without-region"),
    pytest.param("aws", sets(["ami.US_EAST=ami-0123456789abcdef0"]), "'US_EAST' is not a region name",
                 id="bad-region"),
    pytest.param("aws", sets(["ami.us-east-1=ami-0123456789abcdef0", "image_id=" + GLANCE_ID]),
                 "--set image_id: unknown cloud property 'image_id'", id="unknown-key"),
    pytest.param("aws", sets(["ami.us-east-1=ami-0123456789abcdef0", "ami.us-east-1=ami-0fedcba9"]),
                 "--set ami.us-east-1: given twice", id="twice"),
    pytest.param("aws", sets(["ami.us-east-1"]), "--set 'ami.us-east-1': expected KEY=VALUE", id="no-value"),
    pytest.param("openstack", sets(["image_id=bosh-stemcell"]), "--set image_id: malformed image_id",
                 id="glance-id-not-a-uuid"),
    pytest.param("openstack", sets(["image_id.RegionOne=" + GLANCE_ID]), "'image_id' is one value",
                 id="openstack-per-region"),
    pytest.param("vsphere", sets(["template=templates/debian-12"]), "--set template: malformed template",
                 id="template-folder-path"),
    pytest.param("aws", [*sets(["ami.us-east-1=ami-0123456789abcdef0"]), "--version", "1 0"],
                 "--version '1 0'", id="bad-version"),
    pytest.param("aws", [*sets(["ami.us-east-1=ami-0123456789abcdef0"]), "--name", "../etc"],
                 "--name '../etc'", id="bad-name"),
]


@pytest.mark.parametrize(("definition", "args", "message"), BAD)
def test_bad_input_is_a_clear_error_and_leaves_nothing(tmp_path: Path, definition: str, args: list[str],
                                                       message: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    previous = out / "stemcell.tgz"
    previous.write_text("an earlier build")
    done = build_light(tmp_path, STEMCELLS / definition, *args, "--output", str(previous))
    assert done.returncode == 1
    assert message in one_line(done.stderr)
    assert [p.name for p in out.iterdir()] == ["stemcell.tgz"]  # no partial file beside it
    assert previous.read_text() == "an earlier build"           # and the old one untouched


def test_a_stemcell_for_a_deployment_across_cpis_shares_the_local_ones_name_and_version(tmp_path: Path) -> None:
    """The director resolves a deployment's stemcell to one name/version and needs a copy of
    it in every CPI the deployment uses: the light stemcell can join the local one's."""
    done = build_light(tmp_path, "aws", *sets(GOOD["aws"][0]), "--name", STEMCELL_NAME,
                       "--version", STEMCELL_VERSION, "--output", "joined.tgz")
    assert done.returncode == 0, done.stderr
    manifest, _ = read_stemcell(tmp_path / "joined.tgz", tmp_path)
    assert (manifest["name"], manifest["version"]) == (STEMCELL_NAME, STEMCELL_VERSION)
    assert (manifest["operating_system"], manifest["stemcell_formats"]) == ("debian-bookworm", ["aws-light"])


def test_a_shipped_definition_can_be_named_from_anywhere(tmp_path: Path) -> None:
    done = build_light(tmp_path, "openstack", *sets(GOOD["openstack"][0]), "--output", "os.tgz")
    assert done.returncode == 0, done.stderr
    manifest, _ = read_stemcell(tmp_path / "os.tgz", tmp_path)
    assert manifest["stemcell_formats"] == ["openstack-light"]


def test_an_output_directory_that_does_not_exist_is_named(tmp_path: Path) -> None:
    done = build_light(tmp_path, STEMCELLS / "aws", *sets(GOOD["aws"][0]), "--output",
                       str(tmp_path / "missing" / "x.tgz"))
    assert done.returncode == 1
    assert f"directory {tmp_path / 'missing'} does not exist" in one_line(done.stderr)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("iaas", sorted(GOOD))
def test_definition_formats_are_the_ones_the_cpi_announces(tmp_path: Path, iaas: str) -> None:
    """info needs no credentials: the CPI names the stemcell formats its provider takes."""
    config = tmp_path / "cpi.json"
    config.write_text(json.dumps({"provider": iaas, iaas: {}}))
    cpi = Cpi(config)
    definition = yaml.safe_load((STEMCELLS / iaas / "light-stemcell.yml").read_text())
    assert definition["stemcell_formats"] == cpi.result("info")["stemcell_formats"]


def uploaded(tmp_path: Path, tarball: Path) -> tuple[str, dict]:
    """What the director's upload task passes to create_stemcell: image path, cloud_properties."""
    workdir = tmp_path / "upload"
    workdir.mkdir(exist_ok=True)
    manifest, image = read_stemcell(tarball, workdir)
    return str(image), manifest["cloud_properties"]


def test_aws_light_stemcell_gives_the_cpi_its_regions_ami(tmp_path: Path, moto: MotoEc2) -> None:
    moto.reset()
    world = make_world(moto)
    cpi = Cpi(write_config(tmp_path / "cpi.json", moto, world))
    tarball = tmp_path / "aws.tgz"
    done = build_light(tmp_path, STEMCELLS / "aws", *sets([f"ami.{REGION}={world.ami}",
                                                           "ami.eu-west-1=ami-0fedcba9"]),
                       "--output", str(tarball))
    assert done.returncode == 0, done.stderr
    assert cpi.result("create_stemcell", *uploaded(tmp_path, tarball)) == world.ami

    elsewhere = tmp_path / "elsewhere.tgz"  # an AMI for another region only: this CPI's has none
    done = build_light(tmp_path, STEMCELLS / "aws", *sets([f"ami.eu-west-1={world.ami}"]),
                       "--output", str(elsewhere))
    assert done.returncode == 0, done.stderr
    error = cpi.error("create_stemcell", *uploaded(tmp_path, elsewhere))
    assert error["type"] == "CloudError" and REGION in error["message"]


def test_openstack_light_stemcell_gives_the_cpi_its_glance_image(tmp_path: Path,
                                                                  openstack_cloud: OpenStackFake) -> None:
    [image_id] = openstack_cloud.cloud.images
    credentials = openstack_cloud.cloud.credentials
    config = tmp_path / "cpi.json"
    config.write_text(json.dumps({"provider": "openstack", "openstack": {
        "auth_url": openstack_cloud.auth_url, "username": credentials.username,
        "password": credentials.password, "project": credentials.project,
        "domain": credentials.domain, "region": credentials.region}}))
    config.chmod(0o600)
    cpi = Cpi(config)
    tarball = tmp_path / "openstack.tgz"
    done = build_light(tmp_path, STEMCELLS / "openstack", "--set", f"image_id={image_id}",
                       "--output", str(tarball))
    assert done.returncode == 0, done.stderr
    assert cpi.result("create_stemcell", *uploaded(tmp_path, tarball)) == image_id

    missing = tmp_path / "missing.tgz"  # well-formed, but no such image in Glance
    done = build_light(tmp_path, STEMCELLS / "openstack", "--set", f"image_id={GLANCE_ID}",
                       "--output", str(missing))
    assert done.returncode == 0, done.stderr
    error = cpi.error("create_stemcell", *uploaded(tmp_path, missing))
    assert error["type"] == "CloudError" and GLANCE_ID in error["message"]


def test_vsphere_light_stemcell_gives_the_cpi_its_template(tmp_path: Path, vsphere: VsphereWorld,
                                                           vsphere_cpi: Cpi) -> None:
    tarball = tmp_path / "vsphere.tgz"
    done = build_light(tmp_path, STEMCELLS / "vsphere", "--set", f"template={TEMPLATE}", "--output", str(tarball))
    assert done.returncode == 0, done.stderr
    assert vsphere_cpi.result("create_stemcell", *uploaded(tmp_path, tarball)) == vsphere.template_uuid

    missing = tmp_path / "missing.tgz"
    done = build_light(tmp_path, STEMCELLS / "vsphere", "--set", "template=no-such-template",
                       "--output", str(missing))
    assert done.returncode == 0, done.stderr
    error = vsphere_cpi.error("create_stemcell", *uploaded(tmp_path, missing))
    assert error["type"] == "CloudError" and "no-such-template" in error["message"]


def test_a_write_that_fails_half_way_leaves_neither_a_partial_nor_a_changed_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up after the bytes went out: the earlier tarball stays as it was."""
    from bosh_py.stemcell import light

    previous = tmp_path / "stemcell.tgz"
    previous.write_text("an earlier build")

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(light.os, "fsync", disk_full)
    with pytest.raises(light.LightStemcellError, match=f"--output {previous}: cannot write: .*No space left"):
        light.build_light_stemcell(STEMCELLS / "aws", GOOD["aws"][0], output=previous)
    assert [p.name for p in tmp_path.iterdir()] == ["stemcell.tgz"]
    assert previous.read_text() == "an earlier build"
