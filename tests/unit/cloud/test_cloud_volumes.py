"""Lab-cloud volumes (kubesalt.cloud.volumes): device names from YAML cases, and what udev's
stand-in makes in a guest's /dev from a sysfs tree (a directory laid out as the kernel's)."""

import os
import pathlib

import pytest

from kubesalt.cloud import volumes
from tests.support.cases import load_cases


@pytest.mark.parametrize("case", load_cases(__file__, "volumes"))
def test_names(case):
    call, (argument, *rest) = (
        (volumes.by_id_name, case["by_id"])
        if "by_id" in case
        else (lambda d: volumes.partition_name(d, case["partition"][1]), case["partition"])
    )
    if "error" in case:
        with pytest.raises(ValueError, match="^" + case["error"]):
            call(argument)
    else:
        assert call(argument) == rest[-1]


def test_image_is_sparse_and_never_shrunk(tmp_path):
    path = volumes.image_path(tmp_path, "vol-1")
    assert path == tmp_path / "volumes" / "vol-1.img"
    volumes.ensure_image(path, 2)
    assert path.stat().st_size == 2 * volumes.GIB
    assert path.stat().st_blocks == 0  # sparse: nothing written
    volumes.ensure_image(path, 1)
    assert path.stat().st_size == 2 * volumes.GIB


def test_the_udevadm_stand_in_calls_mirror_on_settle_only():
    assert volumes.UDEVADM.startswith("#!/")
    assert "if sys.argv[1:2] == ['settle']:\n    volumes.mirror()" in volumes.UDEVADM


def test_mirror_names_no_partition_of_a_device_it_cannot_find(tmp_path):
    """A by-id link to a node that is not there (a volume being detached) is left alone."""
    by_id = tmp_path / "dev" / volumes.BY_ID
    by_id.mkdir(parents=True)
    os.symlink("../../vdb", by_id / "virtio-vol-1")
    assert volumes.mirror(tmp_path / "dev", str(tmp_path / "sys")) == []
    assert sorted(p.name for p in by_id.iterdir()) == ["virtio-vol-1"]
    assert not pathlib.Path(tmp_path / "run").exists()
