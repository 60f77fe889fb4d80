import dagster as dg
import pytest

from resources.artifacts import ArtifactIOManager
from resources.device import ComputeDevice
from resources.lake import LakeResource
from resources.quality import DataQualityPolicy
from resources.release import ReleasePolicy
from tests.dlp_assets.release_fixtures import write_dev_sets
from tests.hrm_core.data.corpus.conftest import fixture_cache  # noqa: F401 (a corpora cache, no network)
from tests.hrm_core.serve.scan_fixtures import build_tiny_bundle


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


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    return build_tiny_bundle(tmp_path_factory.mktemp("bundles") / "tiny")


@pytest.fixture
def lake_resources(resources, tmp_path):
    dev = write_dev_sets(tmp_path / "eval")
    return {**resources, "release": ReleasePolicy(eval_dir=str(dev))}
