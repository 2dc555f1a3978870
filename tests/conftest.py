import pytest

from femvalid.geometry import InterbodyCage, VertebralBodyReplacement, write_stl


@pytest.fixture(scope="session")
def cage():
    return InterbodyCage()


@pytest.fixture(scope="session")
def cage_surface(cage):
    return cage.surface()


@pytest.fixture(scope="session")
def vbr():
    return VertebralBodyReplacement()


@pytest.fixture(scope="session")
def cage_stl(tmp_path_factory, cage_surface):
    path = tmp_path_factory.mktemp("stl") / "cage.stl"
    write_stl(path, cage_surface.triangles)
    return path


@pytest.fixture(autouse=True)
def private_job_cache(tmp_path, monkeypatch):
    """Each test gets an empty job cache of its own."""
    monkeypatch.setenv("FEMVALID_CACHE_DIR", str(tmp_path / "job-cache"))
