import dagster as dg
import pytest

from resources.artifacts import ArtifactIOManager
from resources.device import ComputeDevice
from resources.lake import LakeResource
from resources.quality import DataQualityPolicy


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def resources(tmp_path):
    lake = LakeResource(root=str(tmp_path / "lake"))
    return {
        "lake": lake,
        "io_manager": ArtifactIOManager(lake=lake),
        "device": ComputeDevice(prefer="cpu"),
        "quality": DataQualityPolicy(),
    }
